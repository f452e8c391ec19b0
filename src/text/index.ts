export {
  CLIP_BOS,
  CLIP_CONTEXT,
  CLIP_EOS,
  CLIP_G_PAD,
  CLIP_L_PAD,
  createClipTokenizer,
  firstMaxIndex,
  sd3FirstWindow,
  type ClipTokenizer,
  type ClipTokenizerFiles,
  type ClipWindow,
} from './clip-bpe.js';
export {
  T5_DIFFUSERS_LENGTH,
  T5_PAD,
  T5_SD3_MAX_CODE_POINTS,
  T5_SD3_MIN_LENGTH,
  createCharsmap,
  createT5Tokenizer,
  type Charsmap,
  type T5Tokenizer,
  type T5TokenizerFiles,
} from './t5-unigram.js';
export {
  createSd3Tokenizer,
  padT5Pair,
  type Sd3Tokenizer,
  type Sd3TokenizerFiles,
  type Sd3Tokens,
  type TokenizeOptions,
  type TokenizerConvention,
} from './sd3-tokenizer.js';
export {
  escapeImportant,
  parseWeightedSegments,
  promptWords,
  splitSegmentWords,
  unescapeImportant,
  type WeightedSegment,
} from './weight-syntax.js';
export {
  graphemeClusters,
  isLetter,
  isNumber,
  isPythonSpace,
  isWhiteSpace,
  lowercasePerCodePoint,
  nfc,
  pythonFloat,
  pythonFloatAccepts,
  sliceCodePoints,
  toWellFormed,
} from './normalize.js';
