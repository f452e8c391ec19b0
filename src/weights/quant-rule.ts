/**
 * Which tensors the int8/int4 variants quantise. Measured on the reference configurations
 * (ISSUE_NOTES, issue 4): the joint blocks' Linear weights tolerate it; `final_layer.linear` alone
 * costs more under int4 than all block weights together, and the embedders, every
 * `adaLN_modulation`, `x_embedder`, `pos_embed`, biases and norms are small or sensitive, so they
 * stay f16. Text encoders follow the same rule: Linear weights inside their layers only.
 * Models may pass their own rule to the converter; this one knows the original SD3/SD3.5 names,
 * the diffusers names and the transformers names of the text encoders, with or without prefixes.
 */

/** Decides whether a tensor of a component is quantised (given that its format constraints hold). */
export type QuantRule = (name: string, shape: readonly number[], component?: string) => boolean;

/** Written into manifests as `quantization.rule`. */
export const DEFAULT_QUANT_RULE_TEXT =
  'Linear weights (rank 2) of the denoiser joint blocks (attn.qkv, attn.proj, attn2.*, mlp.fc1, mlp.fc2 and their ' +
  'diffusers equivalents) and of the text-encoder layers (attention q/k/v/o, MLP); embeddings, adaLN_modulation, ' +
  'final_layer, x_embedder, pos_embed, biases, norms and the VAE stay f16.';

const DENOISER_LINEAR: readonly RegExp[] = [
  // Original SD3/SD3.5 names (optionally under model.diffusion_model.).
  /(^|\.)joint_blocks\.\d+\.(x_block|context_block)\.(attn|attn2)\.(qkv|proj)\.weight$/,
  /(^|\.)joint_blocks\.\d+\.(x_block|context_block)\.mlp\.(fc1|fc2)\.weight$/,
  // Diffusers names.
  /(^|\.)transformer_blocks\.\d+\.(attn|attn2)\.(to_q|to_k|to_v|add_q_proj|add_k_proj|add_v_proj|to_add_out|to_out\.0)\.weight$/,
  /(^|\.)transformer_blocks\.\d+\.(ff|ff_context)\.net\.(0\.proj|2)\.weight$/,
];

/**
 * Text encoders: rank-2 weights inside a numbered layer/block (CLIP `encoder.layers.N.…`, T5
 * `encoder.block.N.…`, or canonical names of the same shape), except embeddings, norms and T5's
 * relative attention bias table.
 */
const TEXT_LAYER = /(^|\.)(layers|block|blocks)\.\d+\..+\.weight$/;
const TEXT_EXCLUDED = /(embed|norm|relative_attention_bias)/i;

/** The default rule for every component: see the module comment. */
export const defaultQuantRule: QuantRule = (name, shape, component) => {
  if (shape.length !== 2 || component === 'vae') return false;
  const denoiser = DENOISER_LINEAR.some((p) => p.test(name));
  if (component === 'mmdit') return denoiser;
  const text = TEXT_LAYER.test(name) && !TEXT_EXCLUDED.test(name);
  return component === undefined ? denoiser || text : text;
};
