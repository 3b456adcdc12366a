"""The seed policy (ntkcheck.seeds): streams keyed by purpose and integer keys, stable and independent."""
import zlib

import numpy as np
import pytest

from ntkcheck import seeds


def test_same_inputs_same_stream():
    a = seeds.rng(7, "width.init", 2, 5).standard_normal(8)
    b = seeds.rng(7, "width.init", 2, 5).standard_normal(8)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("other", [(8, "width.init", 2, 5), (7, "width.data", 2, 5), (7, "width.init", 2, 6),
                                   (7, "width.init", 5, 2), (7, "width.init", 2)])
def test_any_difference_gives_another_stream(other):
    a = seeds.rng(7, "width.init", 2, 5).standard_normal(8)
    b = seeds.rng(*other).standard_normal(8)
    assert not np.allclose(a, b)


def test_spawn_key_is_the_crc32_of_the_purpose():
    # the literal: zlib.crc32(b"width.init"), computed independently of the module's table
    ss = seeds.sequence(3, "width.init", 1)
    assert ss.entropy == 3 and ss.spawn_key == (zlib.crc32(b"width.init"), 1)


def test_stream_matches_numpy_spawn_tree():
    # the same stream as numpy's own construction of that child, so it is SeedSequence's documented tree
    ref = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(zlib.crc32(b"compare.init"), 4)))
    assert np.array_equal(seeds.rng(11, "compare.init", 4).integers(0, 2**62, 5), ref.integers(0, 2**62, 5))


def test_derived_seed_is_a_non_negative_int_and_stable():
    s = seeds.derived_seed(0, "init", 1)
    assert isinstance(s, int) and 0 <= s < 2**63 and s == seeds.derived_seed(0, "init", 1)
    assert s != seeds.derived_seed(0, "init", 2)


@pytest.mark.parametrize("bad", [("no.such.purpose",), ("init", -1), ("init", 1.5), ("init", True)])
def test_bad_purpose_or_key_is_refused(bad):
    with pytest.raises(ValueError):
        seeds.sequence(0, *bad)


@pytest.mark.parametrize("seed", [-1, 1.0, "3", None, True])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        seeds.rng(seed, "init")


def test_purposes_have_distinct_keys():
    keys = [seeds.purpose_key(p) for p in seeds.PURPOSES]
    assert len(set(keys)) == len(keys) == len(set(seeds.PURPOSES))
