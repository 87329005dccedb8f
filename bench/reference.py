"""Plain batched Metropolis samplers, as a user would write them: one full forward pass over all
chains per step, with PyTorch or with onnxruntime's Python API. Used as baselines."""

from __future__ import annotations

import time

import numpy as np


def torch_sampler(net, x0: np.ndarray, scale: np.ndarray, beta: float, chains: int, steps: int, threads: int,
                  device: str = "cpu") -> float:
    """Proposals per second of a PyTorch sampler; x0 codes (L,), net maps (N, 4, L) to Phi. On
    device="cuda" every tensor lives on the GPU."""
    import torch

    torch.set_num_threads(threads)
    net = net.to(device)
    L = len(x0)
    rows = torch.arange(chains, device=device)
    s = torch.as_tensor(scale, device=device)
    with torch.inference_mode():
        x = torch.nn.functional.one_hot(torch.as_tensor(x0, dtype=torch.long, device=device), 4).T.float()
        phi0 = net(x[None])[0]
        x = x.repeat(chains, 1, 1)
        codes = torch.as_tensor(x0, dtype=torch.long, device=device).repeat(chains, 1)
        d = torch.linalg.vector_norm(s * (net(x) - phi0), dim=1)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            pos = torch.randint(0, L, (chains,), device=device)
            old = codes[rows, pos]
            new = (old + torch.randint(1, 4, (chains,), device=device)) % 4
            xp = x.clone()
            xp[rows, old, pos] = 0.0
            xp[rows, new, pos] = 1.0
            dn = torch.linalg.vector_norm(s * (net(xp) - phi0), dim=1)
            accept = torch.log(torch.rand(chains, device=device)) < -beta * (dn - d)
            x = torch.where(accept[:, None, None], xp, x)
            d = torch.where(accept, dn, d)
            codes[rows[accept], pos[accept]] = new[accept]
        sync()
        return chains * steps / (time.perf_counter() - start)


def onnxruntime_sampler(phi_onnx: bytes, x0: np.ndarray, scale: np.ndarray, beta: float, chains: int, steps: int,
                        threads: int, layout: str = "NCL") -> float:
    """Proposals per second of a sampler calling onnxruntime's Python API on the Phi model."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(phi_onnx, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    L = len(x0)
    rows = np.arange(chains)
    x = np.repeat(np.eye(4, dtype=np.float32)[x0].T[None], chains, axis=0)  # (chains, 4, L)
    view = (lambda a: a) if layout == "NCL" else (lambda a: np.ascontiguousarray(a.transpose(0, 2, 1)))
    codes = np.repeat(x0[None], chains, axis=0)
    phi0 = session.run(None, {name: view(x[:1])})[0][0]
    d = np.linalg.norm(scale * (session.run(None, {name: view(x)})[0] - phi0), axis=1)
    start = time.perf_counter()
    for _ in range(steps):
        pos = rng.integers(0, L, chains)
        old = codes[rows, pos]
        new = (old + rng.integers(1, 4, chains)) % 4
        xp = x.copy()
        xp[rows, old, pos] = 0.0
        xp[rows, new, pos] = 1.0
        dn = np.linalg.norm(scale * (session.run(None, {name: view(xp)})[0] - phi0), axis=1)
        accept = np.log(rng.random(chains)) < -beta * (dn - d)
        x[accept] = xp[accept]
        d[accept] = dn[accept]
        codes[rows[accept], pos[accept]] = new[accept]
    return chains * steps / (time.perf_counter() - start)


def onnxruntime_forward(phi_onnx: bytes, shape: tuple[int, ...], chains: int, repeats: int, provider: str = "cuda") -> float:
    """Phi forward passes per second of ONNX Runtime alone, input and output bound on the device
    (IOBinding): the ceiling of any sampler that runs the whole network per step."""
    import onnxruntime as ort

    session = ort.InferenceSession(phi_onnx, providers=[{"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}[provider]])
    x = ort.OrtValue.ortvalue_from_numpy(np.zeros((chains, *shape), np.float32), provider, 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input(session.get_inputs()[0].name, x)
    binding.bind_output(session.get_outputs()[0].name, provider)
    session.run_with_iobinding(binding)
    start = time.perf_counter()
    for _ in range(repeats):
        session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    return chains * repeats / (time.perf_counter() - start)
