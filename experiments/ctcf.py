"""CTCF (Finnegan & Song 2017, Fig. 4-5): the paper's network trained on the Zeng et al. CTCF
ChIP-seq data (the bundled model, examples/train_ctcf.py), interpreted on held-out bound sequences
of test.fa that it calls bound, over a beta sweep, and on the authors' 10 sequences.

Measures: (1) motif recovery: consensus of the high-importance segments against JASPAR CORE
vertebrates with Tomtom (rank, p, q of MA0139); (2) localisation: fraction of inputs whose
top-importance 15-bp window overlaps the best FIMO hit of MA0139, for MaxEnt and each attribution
baseline; (3) flank randomisation: mean importance outside vs inside the FIMO hit.
"""

from __future__ import annotations

import numpy as np
import torch

import seqmaxent as sm
from examples.train_ctcf import read, split
from seqmaxent.explain import motifs, summary
from seqmaxent.io import bundled, sequences

from .common import need_data

BETAS = [10, 25, 50, 100, 200, 400, 800]
N_INPUTS = 200
WINDOW = 15  # MA0139.2 width


def held_out_bound(model: sm.Model) -> np.ndarray:
    codes, labels = read(need_data("ctcf_zeng2016") / "test.fa")
    held, _ = split(len(codes))
    bound = held[labels[held] == 1]
    called = bound[model.predict(codes[bound])[:, 1] > 0.5]
    return codes[called[:N_INPUTS]]


def ma0139() -> np.ndarray:
    ids, names, pwms, _ = motifs.jaspar()
    return pwms[ids.index("MA0139.2")] if "MA0139.2" in ids else pwms[[i.split(".")[0] for i in ids].index("MA0139")]


def best_hits(codes: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """Start of the best MA0139 match in each sequence (-1 where FIMO finds none at p < 1e-3)."""
    from memelite import fimo

    x = sequences.onehot(codes).transpose(0, 2, 1)
    hits = fimo({"MA0139": pwm.T}, x, threshold=1e-3)[0]
    start = np.full(len(codes), -1)
    best = hits.sort_values("score", ascending=False).drop_duplicates("sequence_name")
    start[best["sequence_name"].astype(int).to_numpy()] = best["start"].to_numpy()
    return start


def top_window(scores: np.ndarray) -> np.ndarray:
    """Start of the WINDOW-bp window with the largest summed score, per row."""
    sums = np.apply_along_axis(lambda r: np.convolve(r, np.ones(WINDOW), "valid"), 1, scores)
    return sums.argmax(axis=1)


def baselines(codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-position attributions (n, L) of the bound-vs-unbound log-odds of the retrained torch twin."""
    import onnx
    from onnx import numpy_helper

    from examples.train_ctcf import network

    net = network()
    weights = [numpy_helper.to_array(t) for t in onnx.load(bundled.ctcf_model_path()).graph.initializer]
    params = [p for p in net.parameters()]
    by_shape = {w.shape: np.array(w) for w in weights}  # the twin's parameter shapes are all distinct
    with torch.no_grad():
        for p in params:
            p.copy_(torch.as_tensor(by_shape[tuple(p.shape)]))
    net.eval()
    x = torch.as_tensor(sequences.onehot(codes)).transpose(1, 2).contiguous().requires_grad_(True)

    def logodds(t):
        out = net(t)
        return out[:, 1] - out[:, 0]

    grad = torch.autograd.grad(logodds(x).sum(), x)[0].detach()
    ig = torch.zeros_like(x)
    for a in torch.linspace(1 / 32, 1, 32):
        xa = (a * x.detach()).requires_grad_(True)
        ig += torch.autograd.grad(logodds(xa).sum(), xa)[0].detach() / 32
    with torch.no_grad():
        base = logodds(x.detach())
        ism = torch.zeros(codes.shape)
        for pos in range(codes.shape[1]):
            for b in range(4):
                xm = x.detach().clone()
                xm[:, :, pos] = 0
                xm[:, b, pos] = 1
                ism[:, pos] = torch.maximum(ism[:, pos], (logodds(xm) - base).abs())
    xd = x.detach()
    return {"ISM": ism.numpy(), "saliency": grad.abs().amax(1).numpy(),
            "gradient x input": (grad * xd).sum(1).abs().numpy(), "integrated gradients": (ig * xd).sum(1).abs().numpy()}


def recovery(res: sm.Result, names: list[str], bg: np.ndarray, targets) -> dict:
    imp = summary.importance(res.marginals(), bg)
    found = [m for i, n in enumerate(names) for m in motifs.extract(n, res.marginals()[i], imp[i], "ACGT")]
    consensus = motifs.aggregate(found)
    out = dict(segments=len(found), consensus=len(consensus), rank=None, p=None, q=None, sites=0, motif="")
    if consensus:
        ids = targets[0]
        ranked = motifs.match(consensus[:1], targets, top=len(ids))[0]
        hit = next((k for k, m in enumerate(ranked) if m.target_id.startswith("MA0139")), None)
        if hit is not None:
            out.update(rank=hit + 1, p=ranked[hit].p_value, q=ranked[hit].q_value)
        out.update(sites=consensus[0].sites, motif=consensus[0].consensus, best=ranked[0].target_name,
                   pwm=consensus[0].pwm.round(4).tolist())
    return out


def run(chains: int = 10, steps: int = 4000, period: int = 40) -> dict:
    model = sm.Model(bundled.ctcf_model_path())
    codes = held_out_bound(model)
    names = [f"held{i}" for i in range(len(codes))]
    seqs = sm.decode(codes)
    gc = float(np.isin(codes, [1, 2]).mean())
    mu = sm.gc_mu(gc)
    bg = summary.background(mu, [False, True, True, False])
    targets = motifs.jaspar()
    pwm = ma0139()
    hit = best_hits(codes, pwm)
    has_hit = hit >= 0
    inside = np.zeros(codes.shape, bool)
    for i in np.flatnonzero(has_hit):
        inside[i, hit[i] : hit[i] + WINDOW] = True

    def localised(scores: np.ndarray) -> float:
        w = top_window(scores)
        return float((np.abs(w - hit) < WINDOW)[has_hit].mean())

    sweep = []
    for beta in BETAS:
        res = sm.sample(model, seqs, beta=beta, mu=mu, chains=chains, steps=steps, period=period, burn_in=steps // 4,
                        sampler="metropolis", max_rounds=1,
                        seed=0, names=names)
        imp = summary.importance(res.marginals(), bg)
        row = dict(beta=beta, acceptance=float(res.acceptance.mean()), localised=localised(imp),
                   importance_inside=float(imp[inside].mean()), importance_outside=float(imp[~inside & has_hit[:, None]].mean()),
                   **recovery(res, names, bg, targets))
        sweep.append(row)
        print(f"ctcf beta {beta}: {row}", flush=True)
    base = {name: localised(scores) for name, scores in baselines(codes).items()}
    authors = np.load(need_data("maxent2017") / "CTCFbound_oneHot.npy")
    authors_codes = sequences.from_onehot(authors[:, :, [2, 1, 0, 3]])  # G,C,A,T -> A,C,G,T
    best_beta = max(sweep, key=lambda r: r["localised"])["beta"]
    res = sm.sample(model, sm.decode(authors_codes), beta=best_beta, mu=mu, chains=chains, steps=steps,
                    sampler="metropolis", max_rounds=1,
                    period=period, burn_in=steps // 4, seed=0)
    authors_rec = recovery(res, [f"authors{i}" for i in range(10)], bg, targets)
    authors_rec.update(beta=best_beta, p_bound=[round(float(p), 3) for p in model.predict(authors_codes)[:, 1]])
    return dict(n=len(codes), gc=gc, with_fimo_hit=int(has_hit.sum()), sweep=sweep, baselines=base, authors=authors_rec,
                settings=dict(chains=chains, steps=steps, period=period))


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def write(r: dict) -> str:
    s = r["settings"]
    def short(motif: str) -> str:
        return motif if len(motif) <= 24 else motif[:21] + "..."

    rows = [f"| {x['beta']} | {x['acceptance']:.2f} | {x['segments']} | {x['sites']} | {short(x['motif']) or '-'} | "
            f"{x.get('best', '-')} | {fmt(x['rank'], 'd')} | {fmt(x['p'], '.2g')} | {fmt(x['q'], '.2g')} | "
            f"{x['localised']:.3f} | {x['importance_inside']:.2f} | {x['importance_outside']:.3f} |" for x in r["sweep"]]
    a = r["authors"]
    good = [x["beta"] for x in r["sweep"] if x["rank"] is not None and x["rank"] <= 3]
    frozen = [x["beta"] for x in r["sweep"] if x["acceptance"] < 0.05]
    best = max(r["sweep"], key=lambda x: x["localised"])
    summary_text = (
        f"MA0139 ranks among the top 3 JASPAR matches of the consensus for beta {', '.join(map(str, good)) or 'none'}. "
        f"From beta {min(frozen) if frozen else '-'} on, fewer than 5% of proposals are accepted and whole sequences "
        "freeze (importance near 2 bits everywhere): seqmaxent calls no motifs from inputs with most positions fixed, "
        "so few or no segments remain, and what remains is not the site. The paper's beta = 400 suits its network, "
        "not this one, which is what `--beta auto` is for. Localisation at the best beta "
        f"({best['beta']}: {best['localised']:.3f}) is on a par with the attribution baselines; what MaxEnt adds is "
        "the sampled variation itself: which bases may change and the motif as a distribution, with flanks that "
        "drift to the background (importance outside the hit an order of magnitude lower)."
    )
    return "\n".join([
        "## CTCF",
        "",
        f"The bundled network (paper architecture; `examples/train_ctcf.py`: held-out AUROC 0.952) interpreted on "
        f"the first {r['n']} held-out bound sequences of `test.fa` that it calls bound; mu from their GC fraction "
        f"({r['gc']:.3f}); {s['chains']} chains x {s['steps']} steps (+25% burn-in) per input, a sample every "
        f"{s['period']}. FIMO (memelite, p < 1e-3) finds MA0139.2 in {r['with_fimo_hit']} of them; localisation "
        "and the importance inside/outside use those.",
        "",
        "| beta | acceptance | segments | consensus sites | consensus | best JASPAR match | MA0139 rank | p | q | "
        "top window on FIMO hit | importance in hit (bits) | importance elsewhere (bits) |",
        "| ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Localisation (top-importance 15-bp window overlapping the best MA0139 hit) for the attribution baselines "
        "on the same inputs:",
        "",
        "| method | top window on FIMO hit |",
        "| --- | ---: |",
        *[f"| {m} | {v:.3f} |" for m, v in r["baselines"].items()],
        "",
        summary_text,
        "",
        f"The authors' 10 sequences (`CTCFbound_oneHot.npy`, G,C,A,T one-hot) at beta {a['beta']}: our network "
        f"calls them bound with P = {a['p_bound']}; {a['segments']} segments, consensus {a['motif'] or '-'} "
        f"({a['sites']} sites), MA0139 rank {fmt(a['rank'], 'd')} (p {fmt(a['p'], '.2g')}, q {fmt(a['q'], '.2g')}).",
        "",
        figure(r),
        "",
    ])


def figure(r: dict) -> str:
    from seqmaxent.explain.logos import pwm_figure

    from .figures import save, subplots

    fig, (ax, bx) = subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1.4]})
    betas = [x["beta"] for x in r["sweep"]]
    ax.plot(betas, [x["localised"] for x in r["sweep"]], "o-", label="MaxEnt")
    for (name, v), style in zip(r["baselines"].items(), ["--", ":", "-.", (0, (5, 1))]):
        ax.axhline(v, lw=0.9, ls=style, color="0.45", label=name)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_xscale("log")
    ax.set_xlabel("beta")
    ax.set_ylabel("top window on FIMO hit")
    best = min((x for x in r["sweep"] if x["rank"] is not None), key=lambda x: (x["rank"], x["p"]))
    pwm_figure(np.array(best["pwm"]), ax=bx)
    bx.set_title(f"consensus at beta {best['beta']} ({best['sites']} sites): MA0139 rank {best['rank']}, "
                 f"p = {best['p']:.1g}", fontsize=9)
    return save(fig, "ctcf", "CTCF: localisation against beta, attribution baselines dashed (left); the consensus "
                "of the sampled high-importance segments at the best-matching beta (right).")
