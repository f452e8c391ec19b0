import { describe, expect, it } from 'vitest';
import { defaultQuantRule } from '../../../src/weights/quant-rule.js';

const M = [64, 64];

describe('defaultQuantRule', () => {
  it('quantises the joint blocks Linear weights under original names', () => {
    for (const name of [
      'model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight',
      'joint_blocks.3.context_block.attn.proj.weight',
      'joint_blocks.1.x_block.mlp.fc1.weight',
      'joint_blocks.1.context_block.mlp.fc2.weight',
      'joint_blocks.0.x_block.attn2.qkv.weight',
      'joint_blocks.0.x_block.attn2.proj.weight',
    ]) expect(defaultQuantRule(name, M, 'mmdit'), name).toBe(true);
  });

  it('quantises the same weights under diffusers names', () => {
    for (const name of [
      'transformer_blocks.0.attn.to_q.weight',
      'transformer_blocks.0.attn.add_k_proj.weight',
      'transformer_blocks.0.attn.to_out.0.weight',
      'transformer_blocks.0.attn.to_add_out.weight',
      'transformer_blocks.0.attn2.to_v.weight',
      'transformer_blocks.0.ff.net.0.proj.weight',
      'transformer_blocks.0.ff_context.net.2.weight',
    ]) expect(defaultQuantRule(name, M, 'mmdit'), name).toBe(true);
  });

  it('keeps embedders, adaLN, final layer, biases and norms out', () => {
    for (const [name, shape] of [
      ['model.diffusion_model.final_layer.linear.weight', M],
      ['final_layer.adaLN_modulation.1.weight', M],
      ['joint_blocks.0.x_block.adaLN_modulation.1.weight', M],
      ['transformer_blocks.0.norm1.linear.weight', M],
      ['x_embedder.proj.weight', [64, 16, 2, 2]],
      ['context_embedder.weight', M],
      ['t_embedder.mlp.0.weight', M],
      ['y_embedder.mlp.0.weight', M],
      ['pos_embed', [1, 1024, 64]],
      ['joint_blocks.0.x_block.attn.qkv.bias', [192]],
      ['joint_blocks.0.x_block.attn.ln_q.weight', [64]],
    ] as const) expect(defaultQuantRule(name, shape, 'mmdit'), name).toBe(false);
  });

  it('quantises text-encoder layer Linears, not embeddings, norms or the T5 bias table', () => {
    expect(defaultQuantRule('text_model.encoder.layers.3.self_attn.q_proj.weight', M, 'clip_l')).toBe(true);
    expect(defaultQuantRule('text_model.encoder.layers.3.mlp.fc2.weight', M, 'clip_g')).toBe(true);
    expect(defaultQuantRule('encoder.block.2.layer.1.DenseReluDense.wi_0.weight', M, 't5')).toBe(true);
    expect(defaultQuantRule('encoder.block.0.layer.0.SelfAttention.o.weight', M, 't5')).toBe(true);
    expect(defaultQuantRule('text_model.embeddings.token_embedding.weight', M, 'clip_l')).toBe(false);
    expect(defaultQuantRule('text_model.encoder.layers.3.layer_norm1.weight', [64], 'clip_l')).toBe(false);
    expect(defaultQuantRule('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [32, 64], 't5')).toBe(false);
    expect(defaultQuantRule('shared.weight', M, 't5')).toBe(false);
    expect(defaultQuantRule('text_projection.weight', M, 'clip_g')).toBe(false);
  });

  it('never quantises the VAE', () => {
    expect(defaultQuantRule('decoder.up.0.block.0.conv1.weight', M, 'vae')).toBe(false);
    expect(defaultQuantRule('decoder.mid.attn_1.q.weight', M, 'vae')).toBe(false);
  });
});
