"""jaxnn.data: offline datasets, the mnist1d cache, IDX reading and minibatching."""

import gzip

import jax
import numpy as np
import pytest

from jaxnn import data
from jaxnn.data import Dataset, batches, num_batches

# ------------------------------------------------------------------ mnist1d


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    """Generate MNIST-1D once for the module into a fresh cache folder."""
    cache = tmp_path_factory.mktemp("jaxnn_cache")
    return cache, data.mnist1d(cache_dir=cache)


def test_mnist1d_shapes_dtypes_and_labels(mnist1d_cache):
    _, ds = mnist1d_cache
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.shape == (4000,) and ds.y_test.shape == (1000,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    for y in (ds.y_train, ds.y_test):
        assert y.min() == 0 and y.max() == 9
        assert len(np.unique(y)) == 10
    assert np.all(np.isfinite(ds.x_train))


def test_mnist1d_cache_round_trip(mnist1d_cache, monkeypatch):
    cache, first = mnist1d_cache
    files = sorted(p.name for p in cache.iterdir())
    assert files == ["mnist1d_seed42_v1.npz"]  # no temporary file left behind

    def _no_regeneration(seed):
        raise AssertionError("the second call must load the cache")

    monkeypatch.setattr(data, "_make_mnist1d", _no_regeneration)
    second = data.mnist1d(cache_dir=cache)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_mnist1d_cache_dir_from_env_and_corrupt_cache(mnist1d_cache, tmp_path, monkeypatch):
    cache, first = mnist1d_cache
    target = tmp_path / "from_env"
    target.mkdir()
    (target / "mnist1d_seed42_v1.npz").write_bytes(b"not a zip file")  # corrupt cache
    monkeypatch.setenv("JAXNN_CACHE", str(target))
    state = np.random.get_state()  # noqa: NPY002
    regenerated = data.mnist1d()
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002
    for a, b in zip(first, regenerated, strict=True):  # same seed, same arrays
        np.testing.assert_array_equal(a, b)
    assert data._load_npz(target / "mnist1d_seed42_v1.npz") is not None
    # An explicit argument wins over the environment variable.
    assert data._cache_dir(cache) == cache
    assert data._cache_dir(None) == target


# ------------------------------------------------------------------- digits


def test_digits_shapes_range_and_stratified_split():
    ds = data.digits()
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int32
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    train_frac = np.bincount(ds.y_train) / len(ds.y_train)
    test_frac = np.bincount(ds.y_test) / len(ds.y_test)
    np.testing.assert_allclose(train_frac, test_frac, atol=0.01)
    again = data.digits()
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    assert not np.array_equal(ds.y_test, data.digits(seed=1).y_test)
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.5)


# ---------------------------------------------------------------- synthetic

SYNTHETIC = {
    "moons": (data.moons, 2),
    "spirals": (data.spirals, 3),
    "xor": (data.xor, 2),
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_classification(name):
    fn, num_classes = SYNTHETIC[name]
    ds = fn(jax.random.key(0), n_train=90, n_test=30)
    assert ds.x_train.shape == (90, 2) and ds.x_test.shape == (30, 2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert isinstance(ds.x_train, np.ndarray)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [90 // num_classes] * num_classes)
    same = fn(jax.random.key(0), n_train=90, n_test=30)
    raw = fn(jax.random.PRNGKey(0), n_train=90, n_test=30)  # raw uint32 key: same draws
    for a, b, c in zip(ds, same, raw, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    other = fn(jax.random.key(1), n_train=90, n_test=30)
    assert not np.array_equal(ds.x_train, other.x_train)
    assert not np.array_equal(ds.x_train, ds.x_test[:30])


def test_noiseless_geometry():
    moons = data.moons(jax.random.key(2), 200, 0, noise=0.0)
    outer = moons.x_train[moons.y_train == 0]
    inner = moons.x_train[moons.y_train == 1] - np.array([1.0, 0.5], np.float32)
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(inner, axis=1), 1.0, rtol=1e-5)
    assert outer[:, 1].min() >= 0 and inner[:, 1].max() <= 0
    x = data.xor(jax.random.key(3), 100, 0, noise=0.0)
    np.testing.assert_array_equal(np.abs(x.x_train), 1.0)
    np.testing.assert_array_equal(x.y_train, (x.x_train[:, 0] * x.x_train[:, 1] < 0).astype(int))
    s = data.spirals(jax.random.key(4), 60, 0, num_classes=4, noise=0.0)
    assert np.linalg.norm(s.x_train, axis=1).max() <= 1.0


def test_polynomial_regression():
    key = jax.random.key(5)
    ds = data.polynomial_regression(key, degree=2, noise=0.0, n_train=50, n_test=20,
                                    coefficients=[1.0, -2.0, 3.0])  # fmt: skip
    assert ds.x_train.shape == ds.y_train.shape == (50, 1)
    assert ds.y_test.shape == (20, 1) and ds.y_test.dtype == np.float32
    x = ds.x_train
    np.testing.assert_allclose(ds.y_train, 1.0 - 2.0 * x + 3.0 * x**2, rtol=1e-5, atol=1e-6)
    assert np.abs(x).max() <= 1.0
    a = data.polynomial_regression(key, degree=3)
    b = data.polynomial_regression(key, degree=3)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    noisy = data.polynomial_regression(key, 2, 0.5, 50, 20, coefficients=[1.0, -2.0, 3.0])
    assert 0.3 < np.std(noisy.y_train - ds.y_train) < 0.7
    with pytest.raises(ValueError, match=r"shape \(degree \+ 1,\) = \(3,\); got \(2,\)"):
        data.polynomial_regression(key, degree=2, coefficients=[1.0, 2.0])


# -------------------------------------------------------------------- MNIST


def _write_idx(path, array, gz=False):
    """Minimal IDX writer: 0x00 0x00 0x08 ndim, big-endian int32 dims, raw bytes."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    payload = header + array.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def _write_mnist(folder, gz=False, n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 4, 3)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 4, 3)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        _write_idx(folder / name, array, gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_reads_idx_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    ds = data.load_mnist(tmp_path)
    assert ds.x_train.shape == (5, 4, 3) and ds.x_test.shape == (3, 4, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    np.testing.assert_allclose(ds.x_train, arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No train-images-idx3-ubyte"):
        data.load_mnist(tmp_path)
    _write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    raw = labels.read_bytes()
    labels.write_bytes(bytes([0, 0, 0x08, 0x03]) + raw[4:])  # images magic on a labels file
    with pytest.raises(ValueError, match="expected magic number 0x00000801, got 0x00000803"):
        data.load_mnist(tmp_path)
    labels.write_bytes(raw[:-1])  # truncated
    with pytest.raises(ValueError, match=r"declares shape \(5,\) .* holds 4 bytes"):
        data.load_mnist(tmp_path)
    _write_idx(labels, np.zeros(4))  # 5 images, 4 labels
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        data.load_mnist(tmp_path)


# ------------------------------------------------------------------ batches


def test_batches_are_deterministic_and_cover_each_example_once():
    x = np.arange(23, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    y = np.arange(23, dtype=np.int32)
    key = jax.random.key(0)
    first = list(batches(key, (x, y), 5))
    second = list(batches(key, (x, y), 5))
    assert len(first) == num_batches(23, 5) == 4
    seen = np.concatenate([yb for _, yb in first])
    assert len(seen) == len(np.unique(seen)) == 20  # at most once; the remainder is dropped
    for (xa, ya), (_, yb) in zip(first, second, strict=True):
        assert xa.shape == (5, 3)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa[:, 0], ya)  # rows stay paired
    other = np.concatenate([yb for _, yb in batches(jax.random.key(1), (x, y), 5)])
    assert not np.array_equal(seen, other)
    kept = list(batches(key, (x, y), 5, drop_remainder=False))
    assert [len(b[1]) for b in kept] == [5, 5, 5, 5, 3] and num_batches(23, 5, False) == 5
    np.testing.assert_array_equal(np.sort(np.concatenate([b[1] for b in kept])), y)


def test_batches_without_shuffle_and_pytrees():
    y = np.arange(7)
    ordered = [b["y"] for b in batches(None, {"y": y, "w": y * 2.0}, 3, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(ordered), y[:6])
    single = list(batches(jax.random.PRNGKey(0), y, 7))  # a bare array, raw key
    assert len(single) == 1 and sorted(single[0]) == list(y)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((np.zeros((0, 2)), np.zeros(0)), {}, ValueError, "empty dataset"),
        ((np.zeros((4, 2)), np.zeros(5)), {}, ValueError, r"leading .* \[\(4, 2\), \(5,\)\]"),
        ((np.zeros((4, 2)), np.zeros(4)), {"batch_size": 5}, ValueError, "larger than the data"),
        ((np.zeros((4, 2)), np.zeros(4)), {"batch_size": 0}, ValueError, "positive int; got 0"),
        ((np.zeros((4, 2)), np.zeros(4)), {"batch_size": 2.0}, TypeError, "positive int"),
        ((), {}, ValueError, "no arrays"),
    ],
)
def test_batches_errors_are_raised_at_call_time(args, kwargs, error, match):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises(error, match=match):
        batches(jax.random.key(0), args, **kwargs)  # no iteration needed


def test_batches_other_errors():
    ds = Dataset(np.zeros((4, 2)), np.zeros(4), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(TypeError, match="whole Dataset"):
        batches(jax.random.key(0), ds, 2)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        batches(None, (np.zeros(4),), 2)
    assert len(list(batches(None, (np.zeros(4),), 8, shuffle=False, drop_remainder=False))) == 1
