"""Toy-sized SAM 2.1 and Grounding DINO built from their own libraries with random weights,
and a registry that lists a detector folder, for the text-prompt and SAM 2.1 tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Hydra overrides that shrink SAM 2.1 tiny to a toy (a 5-block, 8-wide Hiera, 32-wide
#: heads and memory): every code path of the real model, a fraction of its cost.
TOY_SAM2 = (
    "++model.image_encoder.trunk.embed_dim=8", "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.num_layers=1", "++model.memory_attention.d_model=32",
    "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=64",
    "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.in_dim=32", "++model.memory_encoder.out_dim=16",
    "++model.memory_encoder.fuser.layer.dim=32",
    "++model.memory_encoder.position_encoding.num_pos_feats=16",
)
#: The toy detector's vocabulary: BERT's special tokens and a few words.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "person", "bicycle", "car", "van"]
#: Queries of the toy detector: the most boxes one prompt can find.
TOY_QUERIES = 4


def toy_sam2() -> torch.nn.Module:
    """SAM 2.1's architecture at toy size, random weights (seeded)."""
    from tracker.sam2_segmenter import build_sam2_model

    torch.manual_seed(0)
    model = build_sam2_model("sam2.1_hiera_tiny", overrides=TOY_SAM2)
    model.arch = "sam2_toy"
    return model


def save_toy_detector(folder: Path) -> Path:
    """Grounding DINO at toy size with random weights (seeded), saved in Hugging Face's
    layout into ``folder``, with a tokenizer of :data:`VOCAB` and a small image size.

    Random weights give boxes of about 5% of the frame; the box head's last layer is set to
    widen them (each of the two decoder layers adds 1 to the width and height logits), so
    that a box holds an object-sized region."""
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(
            size={"shortest_edge": 160, "longest_edge": 320}),
        tokenizer=BertTokenizer(vocab=str(vocab)))
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                                   out_indices=[2, 3, 4],
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32,
                               max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
        num_queries=TOY_QUERIES, max_text_len=32)
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config).eval()
    with torch.no_grad():
        for head in model.bbox_embed:
            head.layers[-1].weight.zero_()
            head.layers[-1].bias.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0]))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_detector_registry(path: Path, folder: Path) -> Path:
    """A registry (``$CLICKTRACK_REGISTRY``) whose ``grounding_dino_tiny`` is the detector
    in ``folder`` (which must lie in the checkpoint folder)."""
    entry = {"kind": "detector", "arch": "grounding_dino_tiny", "file": folder.name,
             "url": "http://127.0.0.1:9/unreachable",
             "files": {p.name: {} for p in sorted(folder.iterdir()) if p.is_file()}}
    path.write_text(json.dumps({"grounding_dino_tiny": entry}))
    return path
