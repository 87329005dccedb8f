"""Per-position and pairwise summaries of MaxEnt samples."""

from __future__ import annotations

import numpy as np

from ..io.sequences import UNKNOWN
from ..io.sequences import onehot as to_onehot


def background(mu: float, constrained: list[bool]) -> np.ndarray:
    """Base frequencies (4,) of the beta = 0 distribution: P(b) ~ exp(mu [b constrained])."""
    w = np.exp(mu * np.asarray(constrained, float))
    return w / w.sum()


def marginals(samples: np.ndarray) -> np.ndarray:
    """Base frequencies (..., L, 4) over the samples axis (-2) of codes (..., S, L)."""
    counts = np.stack([(samples == b).sum(axis=-2) for b in range(4)], axis=-1)
    return counts / samples.shape[-2]


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits over the last axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, -p * np.log2(p), 0.0).sum(axis=-1)


def importance(p: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """KL divergence (bits) of each position's marginal from the background: 0 where the network
    lets the base drift as it would with no constraint, up to log2(1/min bg) where it is fixed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log2(p / bg), 0.0).sum(axis=-1)


def retained(samples: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Fraction of samples (..., S, L) that keep x0's base (..., L) at each position."""
    return (samples == x0[..., None, :]).mean(axis=-2)


def gc_content(codes: np.ndarray, constrained: list[bool]) -> np.ndarray:
    """Fraction of constrained (e.g. G/C) bases per sequence (last axis), Ns excluded."""
    mask = np.append(np.asarray(constrained, bool), False)
    known = (codes != UNKNOWN).sum(axis=-1)
    return mask[codes].sum(axis=-1) / np.maximum(known, 1)


def mutual_information(samples: np.ndarray) -> np.ndarray:
    """Mutual information (L, L) in bits between positions, from samples (S, L). The marginals alone
    miss dependences such as XOR logic; the diagonal holds each position's entropy."""
    S, L = samples.shape
    onehot = to_onehot(samples).reshape(S, L * 4).astype(np.float64)
    joint = (onehot.T @ onehot / S).reshape(L, 4, L, 4)
    p = onehot.mean(axis=0).reshape(L, 4)
    outer = np.einsum("ia,jb->iajb", p, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / outer), 0.0)
    return terms.sum(axis=(1, 3))


MAX_PAIR_POSITIONS = 512  # positions whose pairs are searched (a 2,048 x 2,048 joint table, 32 MiB)


def strongest_pairs(samples: np.ndarray, n: int, limit: int = MAX_PAIR_POSITIONS) -> np.ndarray:
    """(n, 3): the n pairs (i, j, bits; 0-based) of highest mutual information in samples (S, L),
    searched among the positions that change (at most `limit` of them, those of highest entropy:
    MI(i, j) <= min(H(i), H(j))), so its memory is bounded whatever L; rows past the pairs there
    are NaN."""
    h = entropy(marginals(samples))
    moving = np.flatnonzero(h > 0)
    if len(moving) > limit:
        moving = np.sort(moving[np.argsort(h[moving])[::-1][:limit]])
    out = np.full((n, 3), np.nan)
    found = top_pairs(mutual_information(samples[:, moving]), n) if len(moving) > 1 else []
    for k, (i, j, bits) in enumerate(found):
        out[k] = moving[i], moving[j], bits
    return out


def top_pairs(mi: np.ndarray, n: int = 10, min_distance: int = 1) -> list[tuple[int, int, float]]:
    """The n position pairs (i < j, 0-based, at least min_distance apart) with the highest mutual information."""
    i, j = np.triu_indices(mi.shape[0], k=min_distance)
    order = np.argsort(mi[i, j])[::-1][:n]
    return [(int(i[k]), int(j[k]), float(mi[i[k], j[k]])) for k in order]
