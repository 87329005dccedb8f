"""Train the paper's CTCF network on the Zeng et al. 2016 CTCF ChIP-seq data and export it to ONNX.

    python examples/train_ctcf.py [--data ../shared/data/ctcf_zeng2016] [--out python/seqmaxent/data/ctcf.onnx]

Architecture (Finnegan & Song 2017): Conv1d 4->64 width 24, ReLU, Flatten, Linear 4992->100,
ReLU, Dropout 0.5, Linear 100->2, softmax; input (N, 4, 101), alphabet ACGT. The original
training split is not available, so test.fa is split 90/10 (seeded) into training and held-out
test sets, with reverse complements added to training; valid.fa picks the epoch. Needs PyTorch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

import seqmaxent as sm
from seqmaxent.io.sequences import onehot

ROOT = Path(__file__).resolve().parents[1]


def read(fasta: Path) -> tuple[np.ndarray, np.ndarray]:
    """Base codes (n, 101) and labels (1 = bound) of a .fa file and its .target."""
    seqs = [line.strip() for line in fasta.read_text().splitlines() if line and not line.startswith(">")]
    target = np.loadtxt(fasta.with_suffix(".target"), dtype=np.int64)
    return sm.encode(seqs), target[:, 0]


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score[np.diff(np.sort(score), prepend=np.nan) == 0]):  # ties
        ranks[score == value] = ranks[score == value].mean()
    pos = label == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of test.fa held out (10%) and used for training (90%), seeded."""
    order = np.random.default_rng(0).permutation(n)
    return order[: n // 10], order[n // 10 :]


def network() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(4, 64, 24), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 78, 100), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(100, 2),
    )


def tensor(codes: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(onehot(codes)).transpose(1, 2).contiguous()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ctcf_zeng2016")
    p.add_argument("--out", type=Path, default=ROOT / "python" / "seqmaxent" / "data" / "ctcf.onnx")
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args()
    torch.manual_seed(0)
    codes, labels = read(args.data / "test.fa")
    valid_codes, valid_labels = read(args.data / "valid.fa")
    held, train = split(len(codes))
    x, y = tensor(codes[train]), torch.as_tensor(labels[train])
    # Reverse complements as extra training examples: with channels ACGT, complementing
    # reverses the channel axis.
    x, y = torch.cat([x, x.flip(1).flip(2)]), torch.cat([y, y])
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state = -1.0, None
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            logits = net(tensor(valid_codes))
        score = auroc((logits[:, 1] - logits[:, 0]).numpy(), valid_labels)
        print(f"epoch {epoch + 1}: valid AUROC {score:.4f}", flush=True)
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        logits = net(tensor(codes[held]))
    print(f"held-out AUROC ({len(held)} sequences of test.fa): {auroc((logits[:, 1] - logits[:, 0]).numpy(), labels[held]):.4f}")
    print(f"valid AUROC (best epoch): {best:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(nn.Sequential(net, nn.Softmax(-1)), torch.zeros(1, 4, 101), args.out, dynamo=False,
                      input_names=["onehot"], output_names=["p_bound"], opset_version=17,
                      dynamic_axes={"onehot": {0: "batch"}, "p_bound": {0: "batch"}})
    model = onnx.load(args.out)
    onnx.helper.set_model_props(model, {"class_names": "unbound,bound"})  # what seqmaxent calls the units
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
