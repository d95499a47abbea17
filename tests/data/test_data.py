"""Loading the user's data: every format round-trips, every bad input is one actionable line."""
import numpy as np
import pytest
import torch
from PIL import Image

from scorelab.data import DataError, Dataset, digits_split, load_data, save_array


def load_error(source, *needles, **kwargs) -> str:
    """The one-line DataError message ``load_data(source)`` raises, checked to mention needles."""
    with pytest.raises(DataError) as info:
        load_data(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    for needle in needles:
        assert str(needle) in message, f"{needle!r} not in {message!r}"
    return message


def write(path, text: str):
    path.write_text(text)
    return path


def save_image(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


# ----------------------------------------------------------------------------- arrays, tensors
@pytest.mark.parametrize("convert", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
def test_arrays_and_tensors(convert):
    points = np.random.default_rng(0).normal(size=(10, 3))
    data = load_data(convert(points))
    assert isinstance(data, Dataset) and data.kind == "points" and data.x.dtype == torch.float32
    assert data.shape == (3,) and len(data) == 10
    torch.testing.assert_close(data.x, torch.tensor(points, dtype=torch.float32))
    assert load_data(convert(np.arange(5.0))).x.shape == (5, 1)
    gray = load_data(convert(np.full((4, 6, 7), 0.5)))
    assert gray.kind == "images" and gray.shape == (1, 6, 7)
    assert load_data(convert(np.zeros((4, 3, 5, 5)))).shape == (3, 5, 5)


def test_tensors_with_grad_and_bfloat16():
    x = torch.randn(4, 2, requires_grad=True)
    torch.testing.assert_close(load_data(x).x, x.detach())
    assert load_data(x.detach().bfloat16()).x.dtype == torch.float32


def test_uint8_images_are_divided_by_255_and_ints_are_points():
    data = load_data(np.array([[[0, 255]], [[51, 102]]], dtype=np.uint8))
    torch.testing.assert_close(data.x.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))
    assert load_data(np.array([[1, 2], [3, 4]])).x.dtype == torch.float32


def test_image_size_resizes_image_arrays_and_refuses_points():
    data = load_data(torch.rand(3, 1, 8, 8), image_size=4)
    assert data.shape == (1, 4, 4) and 0 <= data.x.min() and data.x.max() <= 1
    assert load_data(torch.rand(3, 2, 8, 8), image_size=(5, 6)).shape == (2, 5, 6)
    load_error(torch.rand(3, 2), "image_size", "points", image_size=4)
    load_error(torch.rand(3, 1, 8, 8), "image_size", image_size=(0, 4))


@pytest.mark.parametrize("array, needles", [
    (np.zeros((2, 2, 2, 2, 2)), ["array:", "5-D", "(2, 2, 2, 2, 2)"]),
    (np.array([[1, "a"], [2, "b"]], dtype=object), ["array:", "non-numeric", "object"]),
    (np.array([["1", "2"], ["3", "4"]]), ["array:", "non-numeric", "<U1"]),
    (np.zeros((1, 3)), ["array:", "at least 2 samples", "got 1"]),
    (np.zeros((0, 3)), ["array:", "at least 2 samples", "got 0"]),
    (np.zeros((4, 0)), ["array:", "empty"]),
    (np.array([[0.0, 1], [2, np.nan], [np.inf, 0]]), ["array:", "row 1", "nan"]),
    (torch.tensor([[0.0], [1.0], [float("-inf")]]), ["array:", "row 2", "-inf"]),
    (np.full((3, 1, 4, 4), 2.0), ["array:", "[0, 1]", "2"]),
    (np.zeros((3, 8, 8, 3)), ["array:", "channels-last", "transpose(0, 3, 1, 2)"]),
    (np.ones((2, 2), dtype=complex), ["array:", "complex"]),
], ids=["5d", "object", "strings", "one-sample", "no-samples", "no-columns", "nan", "inf",
        "image-range", "channels-last", "complex"])
def test_bad_arrays(array, needles):
    assert load_error(array, *needles).startswith("array:")


def test_not_a_source():
    load_error(3.5, "float", "not a data source")


# ----------------------------------------------------------------------------- npy, npz
def test_npy_round_trip(tmp_path):
    x = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)
    np.save(tmp_path / "pts.npy", x)
    data = load_data(tmp_path / "pts.npy")
    assert data.name == "pts" and data.kind == "points"
    np.testing.assert_array_equal(data.x.numpy(), x)
    np.save(tmp_path / "img.npy", np.full((3, 1, 4, 4), 0.25))
    assert load_data(str(tmp_path / "img.npy")).shape == (1, 4, 4)


def test_npz_single_array_and_known_keys(tmp_path):
    x = np.arange(8.0).reshape(4, 2)
    np.savez(tmp_path / "one.npz", anything=x)
    np.testing.assert_array_equal(load_data(tmp_path / "one.npz").x.numpy(), x)
    for key in ("x", "X", "data"):
        np.savez(tmp_path / f"{key}.npz", y=np.arange(4), **{key: x})
        np.testing.assert_array_equal(load_data(tmp_path / f"{key}.npz").x.numpy(), x)


def test_npz_without_a_known_key_lists_its_keys(tmp_path):
    np.savez(tmp_path / "two.npz", foo=np.zeros((3, 2)), bar=np.zeros(3))
    load_error(tmp_path / "two.npz", "two.npz", "foo", "bar", "x, X, data")
    np.savez(tmp_path / "none.npz")
    load_error(tmp_path / "none.npz", "none.npz", "(none)")


def test_npz_errors_name_the_key(tmp_path):
    np.savez(tmp_path / "k.npz", x=np.array([[1.0], [np.nan]]), y=np.zeros(2))
    load_error(tmp_path / "k.npz", "k.npz['x']", "row 1")


def test_npy_with_bad_contents(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[0.0, 1.0], [1.0, 2.0], [np.nan, 0.0]]))
    assert load_error(tmp_path / "nan.npy", "row 2", "nan").startswith(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "five.npy", np.zeros((2, 1, 1, 1, 1)))
    load_error(tmp_path / "five.npy", "five.npy", "5-D")
    np.save(tmp_path / "one.npy", np.zeros((1, 4)))
    load_error(tmp_path / "one.npy", "one.npy", "at least 2 samples")
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    load_error(tmp_path / "words.npy", "words.npy", "non-numeric")
    np.save(tmp_path / "objects.npy", np.array([{}, []], dtype=object), allow_pickle=True)
    load_error(tmp_path / "objects.npy", "objects.npy", "pickled Python objects")


def test_corrupt_numpy_files(tmp_path):
    np.save(tmp_path / "full.npy", np.zeros((100, 3)))
    raw = (tmp_path / "full.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    load_error(tmp_path / "cut.npy", "cut.npy", "not a readable .npy file")
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(300))
    load_error(tmp_path / "noise.npz", "noise.npz", "not a .npy or .npz file")
    with open(tmp_path / "renamed.npy", "wb") as f:  # an .npz archive named .npy loads
        np.savez(f, x=np.zeros((3, 2)))
    assert load_data(tmp_path / "renamed.npy").x.shape == (3, 2)
    np.savez(tmp_path / "full.npz", x=np.zeros((100, 3)))
    raw = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    load_error(tmp_path / "cut.npz", "cut.npz", "not a readable .npz file")


# ----------------------------------------------------------------------------- csv, tsv
def test_csv_without_header(tmp_path):
    data = load_data(write(tmp_path / "p.csv", "1,2\n3.5, -4e-1\n\n\n"))
    assert data.columns is None and data.kind == "points"
    torch.testing.assert_close(data.x, torch.tensor([[1.0, 2.0], [3.5, -0.4]]))


def test_csv_with_header_records_columns(tmp_path):
    data = load_data(write(tmp_path / "h.csv", "x, y\n1,2\n3,4\n5,6\n"))
    assert data.columns == ["x", "y"] and data.x.shape == (3, 2)


def test_tsv_and_single_column(tmp_path):
    data = load_data(write(tmp_path / "t.tsv", "a\tb\tc\n1\t2\t3\n4\t5\t6\n"))
    assert data.columns == ["a", "b", "c"]
    torch.testing.assert_close(data.x, torch.tensor([[1.0, 2, 3], [4, 5, 6]]))
    assert load_data(write(tmp_path / "one.csv", "1\n2\n3\n")).x.shape == (3, 1)


@pytest.mark.parametrize("text, needles", [
    ("x,y\n1,2\n3,abc\n", ["line 3", "column 2 ('y')", "'abc' is not a number"]),
    ("1,2\n3,4\n5,\n", ["line 3", "column 2", "'' is not a number"]),
    ("1,2\n3,4\n5,6,7\n", ["line 3", "expected 2 columns", "line 1", "found 3"]),
    ("a,b\n1,2\n\n3,4\n", ["line 3", "expected 2 columns", "found 0"]),
    ("a,b\n1,2\n3,nan\n", ["line 3", "column 2 ('b')", "'nan'", "finite"]),
    ("1,inf\n3,4\n", ["line 1", "column 2", "'inf'", "finite"]),
    ("\n\n", ["no data rows"]),
    ("a,b\n", ["no data rows", "only a header"]),
    ("a,b\n1,2\n", ["at least 2 samples", "got 1"]),
], ids=["non-numeric", "empty-cell", "ragged", "blank-middle", "nan", "inf", "blank", "header",
        "one-row"])
def test_bad_csv(tmp_path, text, needles):
    path = write(tmp_path / "data.csv", text)
    assert load_error(path, *needles).startswith(str(path) + ":")


def test_binary_csv_is_unreadable(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    load_error(tmp_path / "b.csv", "b.csv", "not a readable .csv file")


# ----------------------------------------------------------------------------- image folders
def test_gray_png_folder(tmp_path):
    pixels = [np.full((5, 4), v, dtype=np.uint8) for v in (0, 51, 255)]
    for i, p in enumerate(pixels):
        save_image(tmp_path / f"im{i}.PNG", p)
    write(tmp_path / "notes.txt", "ignored")
    (tmp_path / "folder.png").mkdir()  # not a file: ignored too
    data = load_data(tmp_path)
    assert data.kind == "images" and data.shape == (1, 5, 4) and data.name == tmp_path.name
    torch.testing.assert_close(data.x[:, 0, 0, 0], torch.tensor([0.0, 0.2, 1.0]))


def test_rgb_jpeg_and_mixed_folders_become_rgb(tmp_path):
    red = np.zeros((6, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    save_image(tmp_path / "a.jpg", red)
    save_image(tmp_path / "b.png", np.full((6, 6), 128, dtype=np.uint8))  # gray
    rgba = np.full((6, 6, 4), 200, dtype=np.uint8)
    rgba[..., 3] = 255  # opaque: the alpha channel is dropped (transparent pixels are refused)
    save_image(tmp_path / "c.png", rgba)
    Image.fromarray(red).convert("P").save(tmp_path / "d.png")  # palette
    data = load_data(tmp_path)
    assert data.shape == (3, 6, 6) and len(data) == 4
    assert data.x[0, 0].mean() > 0.95 and data.x[0, 1:].max() < 0.05  # red, sorted first
    torch.testing.assert_close(data.x[1], torch.full((3, 6, 6), 128 / 255))


def test_mixed_sizes_need_image_size(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((8, 8), dtype=np.uint8))
    save_image(tmp_path / "b.png", np.full((10, 12), 255, dtype=np.uint8))
    load_error(tmp_path, "b.png", "12x10", "8x8", "image_size")
    data = load_data(tmp_path, image_size=4)
    assert data.shape == (1, 4, 4)
    torch.testing.assert_close(data.x[1], torch.ones(1, 4, 4))
    assert load_data(tmp_path, image_size=(3, 5)).shape == (1, 3, 5)


@pytest.mark.parametrize("setup, needles", [
    (lambda d: write(d / "readme.txt", "no images"), ["no .png, .jpg, .jpeg images"]),
    (lambda d: None, ["no .png, .jpg, .jpeg images"]),
    (lambda d: save_image(d / "one.png", np.zeros((3, 3), np.uint8)), ["at least 2 samples"]),
], ids=["other-files", "empty", "one-image"])
def test_bad_folders(tmp_path, setup, needles):
    setup(tmp_path)
    assert load_error(tmp_path, *needles).startswith(str(tmp_path))


def test_corrupt_and_16_bit_images(tmp_path):
    save_image(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png at all")
    load_error(tmp_path, "b.png", "not a readable image")
    raw = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(raw[: len(raw) // 2])  # truncated
    load_error(tmp_path, "b.png", "not a readable image")
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "b.png")
    load_error(tmp_path, "b.png", "16-bit")


# ----------------------------------------------------------------------------- toys, digits
def test_toys():
    data = load_data("toy:two_moons", n_toy=50, seed=3)
    assert data.kind == "points" and data.x.shape == (50, 2) and data.name == "toy:two_moons"
    torch.testing.assert_close(data.x, load_data("toy:two_moons", n_toy=50, seed=3).x)
    assert not torch.equal(data.x, load_data("toy:two_moons", n_toy=50, seed=4).x)
    assert load_data("toy:curve?dim=5&noise=0.01", n_toy=20).x.shape == (20, 5)


@pytest.mark.parametrize("source, needles", [
    ("toy:nope", ["toy:nope:", "two_moons", "curve"]),
    ("toy:curve?foo=1", ["foo", "dim, noise, scale"]),
    ("toy:curve?dim=five", ["'dim=five'", "key=NUMBER"]),
    ("toy:curve?dim", ["'dim'", "key=NUMBER"]),
    ("toy:curve?dim=1", ["toy:curve?dim=1:", "dim"]),
])
def test_bad_toys(source, needles):
    assert load_error(source, *needles, n_toy=10).startswith(source)


def test_toy_needs_two_samples():
    load_error("toy:two_moons", "n_toy", n_toy=1)


def test_digits_and_fixed_split():
    data = load_data("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.kind == "images"
    assert data.x.min() == 0 and data.x.max() == 1 and data.labels.shape == (1797,)
    train, test = digits_split()
    assert (train.name, test.name) == ("digits-train", "digits-test")
    assert len(train) + len(test) == 1797 and 0.18 < len(test) / 1797 < 0.22
    assert set(train.labels.tolist()) == set(test.labels.tolist()) == set(range(10))
    assert torch.equal(load_data("digits:test").x, test.x)
    assert torch.equal(load_data("digits:train", seed=7).labels, train.labels)  # seed-free
    again, other = digits_split(), digits_split(seed=1)
    assert torch.equal(again[1].x, test.x) and not torch.equal(other[1].x, test.x)


def test_digits_split_is_disjoint():
    images = load_data("digits").x.flatten(1)
    train, test = digits_split(seed=2)
    assert len(train) + len(test) == len(images)
    # Every digit lands in exactly one part: the multiset union is the whole set.
    whole = sorted(map(tuple, images.tolist()))
    assert sorted(map(tuple, torch.cat([train.x, test.x]).flatten(1).tolist())) == whole
    with pytest.raises(DataError, match="test_fraction"):
        digits_split(test_fraction=1.0)


def test_mnist_and_its_fixed_stratified_split():
    train, test = load_data("mnist"), load_data("mnist:test")
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28)
    assert train.kind == "images" and 0 <= float(train.x.min()) and float(train.x.max()) <= 1
    assert train.labels.bincount().tolist() == [400] * 10 and test.labels.bincount().tolist() == [100] * 10
    assert torch.equal(load_data("mnist:train").x, train.x)
    # the two parts are the whole set, each digit in one of them
    whole = load_data("mnist:all").x.flatten(1)
    assert len(whole) == 5000
    assert sorted(map(tuple, torch.cat([train.x, test.x]).flatten(1).tolist())) == sorted(map(tuple, whole.tolist()))


# ----------------------------------------------------------------------------- paths
def test_missing_path_and_unknown_extension(tmp_path):
    missing = tmp_path / "nope.csv"
    assert load_error(missing) == f"no such file or directory: {missing}"
    # a bare word that is no data set's name: the error lists the names
    load_error("cifar10", "no such file or directory: cifar10", "digits", "toy:NAME")
    path = write(tmp_path / "data.json", "[]")
    load_error(path, "data.json", "'.json'", ".npy, .npz, .csv, .tsv", ".png")


@pytest.mark.parametrize("name", ["e.npy", "e.npz", "e.csv", "e.tsv"])
def test_empty_files(tmp_path, name):
    (tmp_path / name).touch()
    load_error(tmp_path / name, name, "empty")


# ----------------------------------------------------------------------------- save_array
@pytest.mark.parametrize("name", ["out.npy", "sub/dir/out.csv"])
def test_save_array_round_trip(tmp_path, name):
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0)).requires_grad_()
    path = save_array(tmp_path / name, x)
    torch.testing.assert_close(load_data(path).x, x.detach(), rtol=1e-7, atol=1e-7)
    assert [p.name for p in path.parent.iterdir()] == ["out" + path.suffix]  # no temp left
    if path.suffix == ".csv":
        assert path.read_text().splitlines()[0].count(",") == 2


def test_save_array_refuses_to_overwrite(tmp_path):
    path = save_array(tmp_path / "s.npy", np.zeros((2, 2)))
    with pytest.raises(DataError) as info:
        save_array(path, np.ones((2, 2)))
    assert str(info.value) == f"{path} exists; use --force to overwrite"
    save_array(path, np.ones((2, 2)), overwrite=True)
    np.testing.assert_array_equal(np.load(path), np.ones((2, 2)))


@pytest.mark.parametrize("name, x, needles", [
    ("s.txt", np.zeros(2), ["s.txt", "'.txt'", ".npy, .csv"]),
    ("s", np.zeros(2), ["(none)", ".npy, .csv"]),
    ("s.csv", np.zeros((2, 1, 2, 2)), ["s.csv", "1-D or 2-D", ".npy"]),
    ("s.npy", np.array([{}], dtype=object), ["s.npy", "cannot write"]),
])
def test_save_array_errors(tmp_path, name, x, needles):
    with pytest.raises(DataError) as info:
        save_array(tmp_path / name, x)
    assert "\n" not in str(info.value) and all(n in str(info.value) for n in needles)
    assert list(tmp_path.iterdir()) == []
