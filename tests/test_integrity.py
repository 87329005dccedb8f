"""No silent wrong results: what does not fit is refused, named, or shown as it is (reports of
other inputs, file-name clashes, non-finite networks, merges, stale genome indexes, long names,
unreadable or odd inputs, and leftovers)."""

from __future__ import annotations

import gzip
import subprocess
import sys

import h5py
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper, numpy_helper

import seqmaxent as sm
from conftest import model_path
from seqmaxent.cli import cli
from seqmaxent.formatting import file_stems, short
from seqmaxent.io.merge import merge
from seqmaxent.sampling.pipeline import sample_file

MODEL = model_path("gemm_softmax_ncl")
SEQS = ["".join(np.random.default_rng(i).choice(list("ACGT"), 24)) for i in range(4)]
OPTIONS = dict(beta=2.0, chains=2, steps=100, period=50, max_rounds=1, seed=1, threads=1)


def fasta(path, seqs=SEQS, names=None):
    names = names or [f"s{i}" for i in range(len(seqs))]
    path.write_text("".join(f">{n}\n{s}\n" for n, s in zip(names, seqs)))
    return path


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def test_a_report_of_files_with_other_inputs_is_refused(tmp_path):
    model = sm.Model(MODEL)
    sample_file(model, fasta(tmp_path / "a.fa"), tmp_path / "a.h5", **OPTIONS)
    sample_file(model, fasta(tmp_path / "b.fa", SEQS[::-1]), tmp_path / "b.h5", **{**OPTIONS, "beta": 3.0})
    from seqmaxent.explain.report import build

    with pytest.raises(ValueError, match=r"b.h5 holds other inputs than .*a.h5"):
        build([tmp_path / "a.h5", tmp_path / "b.h5"], tmp_path / "r.html", match=False)
    assert not (tmp_path / "r.html").exists()


def test_file_stems_are_distinct_safe_and_short():
    names = ["site:1", "site_1", "site/1", "x" * 300, "x" * 300 + "y", ".hidden", ""]
    stems = file_stems(names)
    assert len(set(stems)) == len(stems) and stems[:3] == ["site_1", "site_1.2", "site_1.3"]
    assert all(len(s) <= 84 and "/" not in s and not s.startswith(".") for s in stems)
    assert short("a" * 10) == "a" * 10 and len(short("a" * 10**6)) == 60


def test_logos_of_clashing_and_very_long_names_are_all_written(tmp_path):
    names = ["site:1", "site_1", "site/1", "n" * (1 << 20)]
    fa = fasta(tmp_path / "in.fa", SEQS, names)
    sample_file(sm.Model(MODEL), fa, tmp_path / "o.h5", **OPTIONS)
    result = run("logos", tmp_path / "o.h5", "-o", tmp_path / "logos")
    assert result.exit_code == 0 and "wrote logos of 4 input(s)" in result.output
    assert len(list((tmp_path / "logos").glob("*.png"))) == 4
    with h5py.File(tmp_path / "o.h5") as h5:  # full names stay in the data
        assert len(h5["names"][3]) == 1 << 20


def edited(tmp_path, name: str, initializer: str, index: int, value: float):
    model = onnx.load(str(MODEL))
    for k, t in enumerate(model.graph.initializer):
        if t.name == initializer:
            array = numpy_helper.to_array(t).copy()
            array.flat[index] = value
            model.graph.initializer[k].CopyFrom(numpy_helper.from_array(array, t.name))
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("initializer,value,what", [("3.bias", np.nan, r"Phi \(/4/Relu_output_0\)"),
                                                    ("6.bias", np.inf, "output")])
def test_a_network_that_is_not_finite_is_refused_naming_the_input(tmp_path, initializer, value, what):
    model = sm.Model(edited(tmp_path, "nan.onnx", initializer, 0, value))
    with pytest.raises(sm.ModelError, match=fr"in.fa: the network's {what} is not finite \(NaN or inf\) for sequence "
                                            r"'s0' \(#1\); there is nothing to sample around \(check .*nan.onnx\)"):
        sample_file(model, fasta(tmp_path / "in.fa"), tmp_path / "o.h5", **OPTIONS)


def test_merge_refuses_bad_shards_and_leaves_no_output(tmp_path):
    model = sm.Model(MODEL)
    fa = fasta(tmp_path / "in.fa")
    shards = [tmp_path / f"o.shard{i}of2.h5" for i in range(2)]
    for i in range(2):
        sample_file(model, fa, tmp_path / "o.h5", batch_size=1, shard=(i, 2), **OPTIONS)
    fasta(tmp_path / "in.fa", SEQS[:3] + [SEQS[0]])  # the same path, other contents
    sample_file(model, fa, tmp_path / "x.h5", batch_size=1, shard=(1, 2), **OPTIONS)
    with pytest.raises(ValueError, match=r"other settings than .*o.shard0of2.h5 \(input file contents\)"):
        merge([shards[0], tmp_path / "x.shard1of2.h5"], tmp_path / "m.h5")
    with h5py.File(shards[1], "a") as h5:
        del h5["entropy"]
    with pytest.raises(ValueError, match=r"o.shard1of2.h5: dataset 'entropy' is missing"):
        merge(shards, tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists() and not list(tmp_path.glob(".m.h5*"))


def test_a_stale_genome_index_is_rebuilt(tmp_path, capsys):
    from seqmaxent.io.inputs import read_bed

    genome = tmp_path / "g.fa"
    genome.write_text(">chrA\n" + "A" * 30 + "\n>chrB\n" + SEQS[0] + "\n")
    bed = tmp_path / "r.bed"
    bed.write_text("chrB\t0\t24\tsite\n")
    assert read_bed(bed, genome)[1] == [SEQS[0]]  # writes g.fa.fai
    genome.write_text(">chrA\n" + "A" * 10 + "\n>chrB\n" + SEQS[1] + "\n")  # rewritten, the index now stale
    fai = genome.with_name("g.fa.fai")
    fai.touch()  # even an index newer than the genome
    assert read_bed(bed, genome)[1] == [SEQS[1]]
    assert "g.fa.fai does not match" in capsys.readouterr().err
    genome.write_text(">chrA\n" + "A" * 10 + "\n>chrB\n" + SEQS[1][:12] + "\n" + SEQS[1][12:] + "\n")  # lines of 12
    fai.touch()
    assert read_bed(bed, genome)[1] == [SEQS[1]]


def test_model_limits_are_checked_before_anything_is_allocated(tmp_path):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 10**9, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 10**9, 4])
    big = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    onnx.save(big, str(tmp_path / "big.onnx"))
    with pytest.raises(sm.ModelError, match=r"big.onnx: input shape \(1, 1000000000, 4\) declares more positions than "
                                            r"seqmaxent handles \(1,048,576\)"):
        sm.Model(tmp_path / "big.onnx")
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 24, 4])
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["cond_out"]),
                              helper.make_node("Identity", ["v"], ["v_out"])], "body",
                             [helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond", onnx.TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v", onnx.TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", onnx.TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Constant", [], ["trips"], value=numpy_helper.from_array(np.array(10**12, np.int64))),
             helper.make_node("Constant", [], ["true"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("Loop", ["trips", "true", "x"], ["y"], body=body)]
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 24, 4])
    loop = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(loop, str(tmp_path / "loop.onnx"))
    with pytest.raises(sm.ModelError, match=r"loop.onnx: Loop 'y' runs 1,000,000,000,000 iterations per evaluation"):
        sm.Model(tmp_path / "loop.onnx")


def cli_sample(*args, stdin: bytes | None = None, tmp=None):
    env_tmp = {"TMPDIR": str(tmp)} if tmp else {}
    import os

    return subprocess.run([sys.executable, "-c", "from seqmaxent.cli import main; main()", "sample", str(MODEL), *args,
                           "--beta", "2", "--chains", "2", "--steps", "100", "--period", "50", "--quiet"],
                          input=stdin, capture_output=True, env={**os.environ, **env_tmp})


def test_odd_inputs_are_read_or_named(tmp_path):
    text = "".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)).encode()
    temp = tmp_path / "temp"
    temp.mkdir()
    for name, data in [("bom.fa", b"\xef\xbb\xbf" + text), ("gz", gzip.compress(text))]:
        out = tmp_path / f"{name}.h5"
        if name == "gz":
            done = cli_sample("-", "-o", out, stdin=data, tmp=temp)
        else:
            (tmp_path / name).write_bytes(data)
            done = cli_sample(tmp_path / name, "-o", out)
        assert done.returncode == 0, done.stderr
        with h5py.File(out) as h5:
            assert sm.decode(h5["x0"][:]) == SEQS
    assert not list(temp.glob("seqmaxent-*"))  # the spooled standard input is removed
    (tmp_path / "garbage.fa").write_bytes(b">s0\n" + bytes(range(128, 256)))
    failed = cli_sample(tmp_path / "garbage.fa", "-o", tmp_path / "g.h5")
    assert failed.returncode == 1 and failed.stderr.decode().strip() == (
        f"error: {tmp_path / 'garbage.fa'}: not a text file (byte 0x80 on line 2 is not UTF-8); expected FASTA or BED "
        f"text, or gzip with a .gz name")
    empty = cli_sample("-", "-o", tmp_path / "e.h5", stdin=b"", tmp=temp)
    assert empty.returncode == 2 and "standard input is empty" in empty.stderr.decode()
    assert not list(temp.glob("seqmaxent-*"))
