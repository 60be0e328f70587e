// Rotary position embeddings on `x [rows, width]` in place (width = n_heads * head_dim).
// Within each head the adjacent pair (2i, 2i+1) is rotated by the angle of (pos, i), taken
// from precomputed `cos`/`sin` tables `[seq_len, half]` with half = head_dim / 2. Positions
// restart at 0 for every sequence of `seq` rows. `inverse` != 0 rotates by the negative
// angle, which is the backward pass (the rotation is orthogonal).
extern "C" __global__ void rope_apply(float* x, const float* cos_table, const float* sin_table,
                                      int rows, int seq, int width, int half, int inverse) {
    const unsigned long long pairs_per_row = (unsigned long long)width / 2;
    const unsigned long long total = (unsigned long long)rows * pairs_per_row;
    for (unsigned long long p = grid_start(); p < total; p += grid_stride()) {
        const unsigned long long row = p / pairs_per_row;
        const int i = (int)(p % pairs_per_row) % half;
        const unsigned long long at = ((unsigned long long)(row % seq)) * half + i;
        const float c = cos_table[at];
        const float s = inverse ? -sin_table[at] : sin_table[at];
        const float a = x[2 * p];
        const float b = x[2 * p + 1];
        x[2 * p] = a * c - b * s;
        x[2 * p + 1] = a * s + b * c;
    }
}
