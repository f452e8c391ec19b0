import { describe, expect, it } from 'vitest';
import { openVaeCheckpoint } from '../../../../src/models/vae/index.js';
import { diffusersVae, referenceVae } from './sources.js';

describe('VAE config', () => {
  it('derives the configuration from shapes', async () => {
    const { config } = openVaeCheckpoint(await referenceVae());
    expect(config).toMatchObject({ channels: [32, 32, 64, 64], latentChannels: 16, decoderBlocks: 3, encoderBlocks: 2, hasDecoder: true, hasEncoder: true, groups: 32, eps: 1e-6, scale: 1.5305, shift: 0.0609 });
    const decoderOnly = openVaeCheckpoint(await diffusersVae()).config;
    expect(decoderOnly.hasEncoder).toBe(false);
    expect(decoderOnly.channels).toEqual([32, 32, 64, 64]);
  });
});
