"""Step checkpoints of the neural trainers: safetensors tensors plus a JSON description.

A checkpoint folder holds ``trainer.json`` (format, version, step, history, configuration,
the numpy generator's state, the optimizer's hyper-parameters and scalars) and
``state-NNNNNN.safetensors`` (the model's weights, the optimizer's state tensors, torch's
RNG state and the negative sampler's state). The tensors are written first and the JSON,
which names them, is renamed into place last (:func:`rankstack.io._files.atomic_write`), so a
crash leaves the previous checkpoint intact. Nothing is pickled. Restoring everything makes a
resumed run continue exactly like an uninterrupted one on CPU.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from rankstack._compat import require
from rankstack.exceptions import IndexFormatError
from rankstack.io._files import atomic_write

FORMAT_NAME = "rankstack-train-checkpoint"
FORMAT_VERSION = 1
CONFIG_NAME = "trainer.json"


class CheckpointError(IndexFormatError):
    """A training checkpoint is missing, truncated, foreign or of another format version."""


def save_checkpoint(
    folder: str | Path,
    *,
    step: int,
    model: Any,
    optimizer: Any,
    sampler_state: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    info: Mapping[str, Any],
) -> Path:
    """Write the checkpoint of ``step`` into ``folder`` (see the module docstring)."""
    torch = require("torch")
    st = require("safetensors.torch")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Any] = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in opt["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    for key, value in sampler_state.items():
        tensors[f"sampler/{key}"] = torch.from_numpy(np.ascontiguousarray(value))
    tensors["rng/torch"] = torch.get_rng_state()
    # tied weights share storage: clone so safetensors sees distinct tensors
    blob = st.save({k: v.detach().contiguous().clone() for k, v in tensors.items()})
    name = f"state-{step:06d}.safetensors"
    write_bytes(folder / name, blob)
    config = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "step": int(step),
        "tensors": name,
        "rng": _json_state(rng.bit_generator.state),
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
        **dict(info),
    }
    write_bytes(folder / CONFIG_NAME, json.dumps(config, indent=1).encode())
    for old in folder.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_write(path) as fh:
        cast(IO[bytes], fh).write(data)


def read_checkpoint(folder: str | Path) -> dict[str, Any]:
    """The checked ``trainer.json`` of a checkpoint folder."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_NAME}; nothing to resume from")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{folder} is not a rankstack training checkpoint")
    if config.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder}: checkpoint format version {config.get('version')!r}; this rankstack "
            f"reads version {FORMAT_VERSION}"
        )
    if not (Path(folder) / str(config.get("tensors"))).is_file():
        raise CheckpointError(f"{folder}: the tensor file {config.get('tensors')} is missing")
    return config


def load_checkpoint(
    folder: str | Path, *, model: Any, optimizer: Any, rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Restore model, optimizer, torch and numpy RNGs in place; return the config and the
    sampler state."""
    torch = require("torch")
    st = require("safetensors.torch")
    folder = Path(folder)
    config = read_checkpoint(folder)
    try:
        tensors = st.load((folder / config["tensors"]).read_bytes())
    except Exception as exc:  # safetensors raises its own error type on corrupt bytes
        raise CheckpointError(f"{folder}: the tensor file is corrupt ({exc})") from exc
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{folder}: the checkpoint does not fit this model (missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]})"
        )
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim/"):
            _, pid, key = k.split("/", 2)
            state.setdefault(int(pid), {})[key] = v
    for pid, values in config["optimizer"]["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": config["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    rng.bit_generator.state = config["rng"]
    sampler = {k[8:]: v.numpy() for k, v in tensors.items() if k.startswith("sampler/")}
    return config, sampler


def _json_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A numpy bit generator's state with numpy scalars turned into Python numbers."""
    out: dict[str, Any] = {}
    for k, v in state.items():
        if isinstance(v, Mapping):
            out[k] = _json_state(v)
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out
