// One AdamW step over `n` parameters of one tensor (the caller launches it per tensor, with
// weight_decay 0 for norm gains):
//   m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,
//   p -= lr (m / (1-b1^t) / (sqrt(v / (1-b2^t)) + eps) + wd p),
// with the bias corrections precomputed by the caller as inv_bc1 = 1/(1-b1^t) and
// inv_sqrt_bc2 = 1/sqrt(1-b2^t). Operation order follows the CPU reference.
extern "C" __global__ void adamw_update(float* params, const float* grads, float* m, float* v,
                                        unsigned long long n, float lr, float beta1,
                                        float beta2, float eps, float weight_decay,
                                        float inv_bc1, float inv_sqrt_bc2) {
    for (unsigned long long i = grid_start(); i < n; i += grid_stride()) {
        const float g = grads[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float update = mi * inv_bc1 / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        params[i] -= lr * (update + weight_decay * params[i]);
    }
}
