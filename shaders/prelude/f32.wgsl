// Precision prelude: activations in f32. Accumulators and statistics are f32 in every precision.
alias act = f32;
alias act4 = vec4<f32>;
