// Precision prelude: activations stored and moved in f16 (needs the shader-f16 feature).
// Accumulators, norm statistics and softmax max/sum stay f32.
enable f16;
alias act = f16;
alias act4 = vec4<f16>;
