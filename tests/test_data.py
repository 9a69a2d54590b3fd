"""Every input kind ``fit`` accepts: the same batches as the equivalent tensor, labels beside the
data and never in it, files and folders read by the stated conventions, clear errors for bad ones,
and exact resume with worker processes."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from scoregen import build, data
from scoregen.data import Batch, ImageFolder, StreamSource, as_source, open_path
from scoregen.errors import DataError
from scoregen.training import TrainConfig, train

X = data.gaussian_mixture_2d(300, seed=0)
Y = torch.arange(300) % 8


def _fit(source, **kwargs):
    return build("ncsn").fit(source, steps=12, batch_size=16, progress=False, log_every=4, **kwargs)


def _same_weights(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


class Rows(Dataset):
    """A map-style dataset whose ``__getitem__`` never raises ``IndexError`` (only ``len`` ends it)."""

    def __init__(self, x, labels=None):
        self.x, self.labels = x, labels

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        row = self.x[i % len(self.x)].numpy()
        return row if self.labels is None else (row, int(self.labels[i % len(self.x)]))


@pytest.mark.parametrize(
    "given",
    [X.numpy(), X.tolist(), TensorDataset(X), TensorDataset(X, Y), Rows(X), Rows(X, Y), list(zip(X, Y))],
    ids=["array", "list", "tensor-dataset", "labelled-tensor-dataset", "dataset", "labelled-dataset", "pairs"],
)
def test_every_map_style_input_trains_like_the_tensor(given):
    reference = _fit(X)
    model = _fit(given)
    assert model.event_shape == (2,)
    assert _same_weights(model, reference)
    assert [h["loss"] for h in model.history] == [h["loss"] for h in reference.history]


def test_labels_travel_beside_the_data():
    index = torch.tensor([3, 0, 299, 3])
    for given, labels in [(TensorDataset(X, Y), None), (X, Y), (Rows(X, Y), None)]:
        batch = as_source(given, labels).rows(index)
        assert torch.equal(batch.x, X[index]) and torch.equal(batch.labels, Y[index])
    assert as_source(X).rows(index).labels is None
    images, classes = data.digits("test", labels=True)
    model = build("ncsnv2").fit(TensorDataset(images, classes), steps=1, batch_size=4, progress=False)
    assert model.event_shape == (1, 8, 8)  # not (2, ...) nor a channel of labels
    with pytest.raises(DataError, match="one entry per row"):
        as_source(X, Y[:10])
    with pytest.raises(DataError, match="carries its own labels"):
        as_source(TensorDataset(X), Y)


def test_a_dataset_without_len_or_empty_is_refused():
    class NoLen(Dataset):
        def __getitem__(self, i):
            return X[0]

    with pytest.raises(DataError, match="no len"):
        _fit(NoLen())
    with pytest.raises(DataError, match="empty"):
        _fit(TensorDataset(X[:0]))
    with pytest.raises(DataError, match="item 5 has shape"):
        as_source([(X[i] if i != 5 else X[:3, 0], 0) for i in range(10)]).rows(torch.arange(10))


def test_a_stream_is_read_in_order_in_batches_across_epochs_and_resumed_by_skipping():
    loader = DataLoader(TensorDataset(X, Y), batch_size=70)  # 300 rows: chunks of 70 … 20
    source = as_source(loader)
    assert isinstance(source, StreamSource)
    batches = source.batches(64, skip=64 * 3)
    rows = torch.cat([next(batches).x for _ in range(3)])  # rows 192 … 299, then 0 … 83
    assert torch.equal(rows, torch.cat([X[192:], X[:84]]))
    labelled = next(as_source(loader).batches(64))
    assert torch.equal(labelled.labels, Y[:64])

    class Examples(IterableDataset):
        def __iter__(self):
            return iter(X.numpy())

    assert torch.equal(next(as_source(Examples()).batches(64, skip=10)).x, X[10:74])
    model = _fit(DataLoader(TensorDataset(X), batch_size=50, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert model.event_shape == (2,) and len(model.history) == 3


def test_a_one_shot_iterator_is_replayed_after_the_preview_and_may_not_end():
    one_shot = iter(list(X[:100]))
    batches = as_source(one_shot)
    preview = batches.preview()
    assert torch.equal(preview, X[:100])
    assert torch.equal(next(batches.batches(50)).x, X[:50])
    with pytest.raises(DataError, match="cannot be read again"):
        _fit(iter(list(X[:100])))  # 12 steps of 16 rows need 192


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)


def test_image_folder_convention_resize_crop_and_labels(tmp_path):
    _png(tmp_path / "cats" / "a.png", np.full((8, 12), 255))
    _png(tmp_path / "cats" / "b.png", np.zeros((8, 12)))
    _png(tmp_path / "dogs" / "c.png", np.tile(np.arange(12) * 20, (8, 1)))  # a ramp 0 … 220 left to right
    folder = ImageFolder(tmp_path, size=4, labels=True)
    assert folder.classes == ["cats", "dogs"] and folder.channels == 1
    white, _ = folder[0]
    assert white.shape == (1, 4, 4) and torch.allclose(white, torch.ones(1, 4, 4))
    assert torch.allclose(folder[1][0], -torch.ones(1, 4, 4))  # pixel 0 → −1
    ramp, label = folder[2]
    assert label == 1
    # Resized to 4 × 6 (shorter side 4) then the centre 4 columns kept: the ends of the ramp are cut.
    assert ramp.min() > -1.0 + 20 / 127.5 and ramp.max() < 220 / 127.5 - 1.0
    assert torch.all(ramp[0, :, 1:] > ramp[0, :, :-1])
    pictures = [Image.fromarray(np.full((3, 3), v, dtype=np.uint8)) for v in (0, 255)]
    assert as_source(pictures).rows(torch.tensor([0, 1])).x[:, 0, 0, 0].tolist() == [-1.0, 1.0]  # the convention
    rgb = tmp_path / "rgb"
    _png(rgb / "x.png", np.zeros((5, 5, 3)) + [255, 0, 127.5])
    colour = ImageFolder(rgb)[0]
    assert colour.shape == (3, 5, 5)
    assert torch.allclose(colour[:, 0, 0], torch.tensor([1.0, -1.0, 0.0]), atol=1 / 127.5)


def test_bad_image_folders_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no PNG or JPEG"):
        ImageFolder(tmp_path / "empty")
    bad = tmp_path / "bad"
    _png(bad / "good.png", np.zeros((4, 4)))
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        ImageFolder(bad)
    sizes = tmp_path / "sizes"
    _png(sizes / "a.png", np.zeros((4, 4)))
    _png(sizes / "b.png", np.zeros((6, 4)))
    with pytest.raises(DataError, match="differ in size.*size="):
        ImageFolder(sizes)
    assert ImageFolder(sizes, size=(3, 2))[1].shape == (1, 3, 2)
    with pytest.raises(DataError, match="does not exist"):
        open_path(tmp_path / "nowhere")
    truncated = tmp_path / "truncated"
    _png(truncated / "t.png", np.random.default_rng(0).integers(0, 255, (64, 64)))
    path = truncated / "t.png"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="t.png"):
        ImageFolder(truncated)[0]


def test_array_files_follow_the_conventions(tmp_path):
    nhwc = np.random.default_rng(0).integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    np.save(tmp_path / "nhwc.npy", nhwc)
    rows = open_path(tmp_path / "nhwc.npy")
    assert rows[2].shape == (3, 6, 7)
    assert torch.allclose(rows[2], torch.from_numpy(nhwc[2]).permute(2, 0, 1).float() / 127.5 - 1)
    np.save(tmp_path / "nhw.npy", np.zeros((5, 6, 7), dtype=np.float32))
    assert open_path(tmp_path / "nhw.npy")[0].shape == (1, 6, 7)
    np.save(tmp_path / "vectors.npy", X.numpy())
    assert torch.equal(as_source(tmp_path / "vectors.npy").rows(torch.arange(300)).x, X)
    np.savez(tmp_path / "set.npz", x=X.numpy(), y=Y.numpy())
    batch = as_source(tmp_path / "set.npz").rows(torch.tensor([4, 9]))
    assert torch.equal(batch.x, X[[4, 9]]) and batch.labels.tolist() == [4, 1]
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    with pytest.raises(DataError, match="text.npy"):
        open_path(tmp_path / "text.npy")
    with pytest.raises(DataError, match=r"\.txt"):
        (tmp_path / "x.txt").write_text("1")
        open_path(tmp_path / "x.txt")


def test_csv_with_a_header_a_label_column_and_a_bad_cell(tmp_path):
    lines = ["u,v,class"] + [f"{a:.6f},{b:.6f},{int(c)}" for (a, b), c in zip(X[:20].tolist(), Y[:20])]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    batch = as_source(open_path(tmp_path / "d.csv", label_column="class")).rows(torch.arange(20))
    assert torch.allclose(batch.x, X[:20], atol=1e-6) and torch.equal(batch.labels, Y[:20])
    assert as_source(tmp_path / "d.csv").rows(torch.arange(2)).x.shape == (2, 3)
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match="line 2.*'x'"):
        open_path(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match="line 2: 1 columns"):
        open_path(tmp_path / "ragged.csv")


def test_an_image_folder_with_workers_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(24):
        _png(tmp_path / "pngs" / f"{i:02d}.png", rng.integers(0, 256, (8, 8)))
    config = TrainConfig(steps=8, batch_size=8, checkpoint_every=4, keep=5, log_every=4)

    def run(out, resume=False, workers=2):
        model = build("ncsnv2", estimator={"channels": 8})
        return train(model, tmp_path / "pngs", config, num_workers=workers, out=out, resume=resume, progress=False)

    straight = run(tmp_path / "a")
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step-00000004", tmp_path / "b" / "checkpoints" / "step-00000004")
    resumed = run(tmp_path / "b", resume=True)
    assert _same_weights(straight, resumed)
    assert _same_weights(straight, run(tmp_path / "c", workers=0))  # workers change nothing


def test_the_batch_is_a_pair():
    batch = Batch(X[:4], Y[:4])
    assert len(batch) == 4 and torch.equal(batch.select(slice(1, 3)).labels, Y[1:3])
