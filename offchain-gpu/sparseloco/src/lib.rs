//! SparseLoCo compression: error feedback, chunked top-k, 2-bit quantization, wire format, aggregation.
