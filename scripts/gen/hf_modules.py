"""Plain-torch re-implementations of Hugging Face's BertModel, RobertaModel and WavLMModel for the fixture
generators (the `transformers` Python package is not installed here).

Module names and hierarchy follow Hugging Face's modeling code (transformers 4.x: modeling_bert.py,
modeling_roberta.py, modeling_wavlm.py), so that torch.onnx.export names the nodes as an Optimum export of the
real model does (`/encoder/layer.3/output/LayerNorm/...`, `/encoder/layers.3/final_layer_norm/...`), and each
model's forward can return `hidden_states` with Hugging Face's `output_hidden_states` meaning:

  * index 0 = the input of the first transformer layer, index i = the output of layer i;
  * post-LN models (BERT, RoBERTa, WavLM Base): index 0 is after the embeddings' LayerNorm (text) or after the
    positional convolution and the encoder LayerNorm (speech);
  * pre-LN speech models (do_stable_layer_norm, the Large checkpoints): index 0 is after the positional
    convolution only, and the LAST entry has the encoder's final LayerNorm applied (it equals last_hidden_state).

Dropout modules exist (as in HF) but the models are only used in eval mode. Deliberate simplifications, none of
which changes a number or a module path that the tests look at:
  * WavLM's positional convolution is a plain Conv1d (HF wraps it in weight_norm, whose weight is a function of
    weight_g and weight_v; at inference that is just a weight);
  * no pooler (BertModel(add_pooling_layer=False)), no masked_spec_embed, no adapter, no SpecAugment.
WavLM's gated relative position bias is implemented as HF does (compute_bias, _relative_positions_bucket,
gru_rel_pos_linear / gru_rel_pos_const, torch's F.multi_head_attention_forward with the bias as attn_mask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

# ==========================================================================================================
# BERT / RoBERTa (modeling_bert.py, modeling_roberta.py)
# ==========================================================================================================


@dataclass(frozen=True)
class TextConfig:
    model_type: str  # "bert" | "roberta"
    vocab_size: int
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 64
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | None = None

    def hf_config(self) -> dict:
        arch = {"bert": "BertModel", "roberta": "RobertaModel"}[self.model_type]
        cfg = {
            "architectures": [arch],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "initializer_range": 0.02,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "use_cache": False,
            "torch_dtype": "float32",
            "transformers_version": "4.36.0",
        }
        if self.bos_token_id is not None:
            cfg["bos_token_id"] = self.bos_token_id
        if self.eos_token_id is not None:
            cfg["eos_token_id"] = self.eos_token_id
        return cfg


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(0.1)
        self.register_buffer("position_ids", torch.arange(cfg.max_position_embeddings).expand((1, -1)), persistent=False)

    def position_ids_for(self, input_ids):
        return self.position_ids[:, : input_ids.size(1)]

    def forward(self, input_ids, token_type_ids):
        position_ids = self.position_ids_for(input_ids)
        inputs_embeds = self.word_embeddings(input_ids)
        token_type_embeddings = self.token_type_embeddings(token_type_ids)
        embeddings = inputs_embeds + token_type_embeddings
        embeddings = embeddings + self.position_embeddings(position_ids)
        embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings)


class RobertaEmbeddings(BertEmbeddings):
    """RoBERTa: positions count real tokens only and start at padding_idx + 1
    (create_position_ids_from_input_ids in modeling_roberta.py); the position table has padding_idx."""

    def __init__(self, cfg: TextConfig):
        super().__init__(cfg)
        self.padding_idx = cfg.pad_token_id
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size, padding_idx=self.padding_idx)

    def position_ids_for(self, input_ids):
        mask = input_ids.ne(self.padding_idx).int()
        incremental_indices = torch.cumsum(mask, dim=1).type_as(mask) * mask
        return incremental_indices.long() + self.padding_idx


class BertSelfAttention(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.num_attention_heads = cfg.num_attention_heads
        self.attention_head_size = cfg.hidden_size // cfg.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(cfg.hidden_size, self.all_head_size)
        self.key = nn.Linear(cfg.hidden_size, self.all_head_size)
        self.value = nn.Linear(cfg.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(0.1)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        return x.view(new_x_shape).permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        attention_scores = attention_scores + attention_mask
        attention_probs = self.dropout(nn.functional.softmax(attention_scores, dim=-1))
        context_layer = torch.matmul(attention_probs, value_layer).permute(0, 2, 1, 3).contiguous()
        return context_layer.view(context_layer.size()[:-2] + (self.all_head_size,))


class BertSelfOutput(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertSelfOutput(cfg)

    def forward(self, hidden_states, attention_mask):
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, hidden_states):
        return F.gelu(self.dense(hidden_states))  # ACT2FN["gelu"]: exact erf GELU


class BertOutput(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(self, hidden_states, attention_mask):
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask, output_hidden_states=False):
        all_hidden_states = ()
        for layer_module in self.layer:
            all_hidden_states += (hidden_states,)
            hidden_states = layer_module(hidden_states, attention_mask)
        all_hidden_states += (hidden_states,)
        return hidden_states, (all_hidden_states if output_hidden_states else None)


class BertModel(nn.Module):
    """HF BertModel(add_pooling_layer=False). forward(input_ids, attention_mask, token_type_ids) returns
    last_hidden_state, or (last_hidden_state, hidden_states) with output_hidden_states=True."""

    embeddings_class = BertEmbeddings

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = self.embeddings_class(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids=None, output_hidden_states=False):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        # get_extended_attention_mask: [B, 1, 1, T], 0 on real tokens, float32 min on padding.
        extended = attention_mask[:, None, None, :].to(torch.float32)
        extended = (1.0 - extended) * torch.finfo(torch.float32).min
        hidden = self.embeddings(input_ids, token_type_ids)
        last, all_hidden = self.encoder(hidden, extended, output_hidden_states)
        return (last, all_hidden) if output_hidden_states else last


class RobertaModel(BertModel):
    """HF RobertaModel(add_pooling_layer=False): BERT layers, RoBERTa embeddings (type_vocab_size 1)."""

    embeddings_class = RobertaEmbeddings


def init_text_model(model: BertModel, seed: int) -> BertModel:
    """Deterministic BERT-like random weights (parameter order is fixed by module construction)."""
    g = torch.Generator()
    g.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.05 * torch.randn(p.shape, generator=g))
            elif "LayerNorm" in name and name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            else:  # Linear / Embedding weights, BERT init
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
        pad = model.config.pad_token_id
        model.embeddings.word_embeddings.weight[pad].zero_()  # as HF's padding_idx init
        if isinstance(model, RobertaModel):
            model.embeddings.position_embeddings.weight[pad].zero_()
    return model.eval()


# ==========================================================================================================
# WavLM (modeling_wavlm.py)
# ==========================================================================================================


@dataclass(frozen=True)
class WavLMConfig:
    conv_dim: tuple = (16,) * 7
    conv_kernel: tuple = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"  # "group" (Base) | "layer" (Large)
    do_stable_layer_norm: bool = False  # True for the Large checkpoints (pre-LN layers)
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 64
    num_conv_pos_embeddings: int = 8
    num_conv_pos_embedding_groups: int = 4
    num_buckets: int = 320
    max_bucket_distance: int = 800
    layer_norm_eps: float = 1e-5

    def hf_config(self) -> dict:
        return {
            "_comment": "Random-weight test encoder with WavLM's modules and names, generated by scripts/gen/hf_modules.py",
            "architectures": ["WavLMModel"],
            "model_type": "wavlm",
            "conv_dim": list(self.conv_dim),
            "conv_kernel": list(self.conv_kernel),
            "conv_stride": list(self.conv_stride),
            "conv_bias": self.conv_bias,
            "feat_extract_norm": self.feat_extract_norm,
            "feat_extract_activation": "gelu",
            "num_feat_extract_layers": len(self.conv_kernel),
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": "gelu",
            "num_conv_pos_embeddings": self.num_conv_pos_embeddings,
            "num_conv_pos_embedding_groups": self.num_conv_pos_embedding_groups,
            "num_buckets": self.num_buckets,
            "max_bucket_distance": self.max_bucket_distance,
            "do_stable_layer_norm": self.do_stable_layer_norm,
            "layer_norm_eps": self.layer_norm_eps,
            "torch_dtype": "float32",
        }


class WavLMNoLayerNormConvLayer(nn.Module):
    def __init__(self, cfg: WavLMConfig, layer_id: int):
        super().__init__()
        in_dim = cfg.conv_dim[layer_id - 1] if layer_id > 0 else 1
        self.conv = nn.Conv1d(in_dim, cfg.conv_dim[layer_id], cfg.conv_kernel[layer_id], stride=cfg.conv_stride[layer_id],
                              bias=cfg.conv_bias)

    def forward(self, hidden_states):
        return F.gelu(self.conv(hidden_states))


class WavLMLayerNormConvLayer(nn.Module):
    def __init__(self, cfg: WavLMConfig, layer_id: int):
        super().__init__()
        in_dim = cfg.conv_dim[layer_id - 1] if layer_id > 0 else 1
        self.conv = nn.Conv1d(in_dim, cfg.conv_dim[layer_id], cfg.conv_kernel[layer_id], stride=cfg.conv_stride[layer_id],
                              bias=cfg.conv_bias)
        self.layer_norm = nn.LayerNorm(cfg.conv_dim[layer_id], elementwise_affine=True)

    def forward(self, hidden_states):
        hidden_states = self.conv(hidden_states)
        hidden_states = self.layer_norm(hidden_states.transpose(-2, -1)).transpose(-2, -1)
        return F.gelu(hidden_states)


class WavLMGroupNormConvLayer(nn.Module):
    def __init__(self, cfg: WavLMConfig, layer_id: int):
        super().__init__()
        in_dim = cfg.conv_dim[layer_id - 1] if layer_id > 0 else 1
        out_dim = cfg.conv_dim[layer_id]
        self.conv = nn.Conv1d(in_dim, out_dim, cfg.conv_kernel[layer_id], stride=cfg.conv_stride[layer_id], bias=cfg.conv_bias)
        self.layer_norm = nn.GroupNorm(num_groups=out_dim, num_channels=out_dim, affine=True)

    def forward(self, hidden_states):
        return F.gelu(self.layer_norm(self.conv(hidden_states)))


class WavLMFeatureEncoder(nn.Module):
    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        n = len(cfg.conv_kernel)
        if cfg.feat_extract_norm == "group":
            layers = [WavLMGroupNormConvLayer(cfg, 0)] + [WavLMNoLayerNormConvLayer(cfg, i + 1) for i in range(n - 1)]
        else:
            layers = [WavLMLayerNormConvLayer(cfg, i) for i in range(n)]
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, input_values):
        hidden_states = input_values[:, None]
        for conv_layer in self.conv_layers:
            hidden_states = conv_layer(hidden_states)
        return hidden_states


class WavLMFeatureProjection(nn.Module):
    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg.conv_dim[-1], eps=cfg.layer_norm_eps)
        self.projection = nn.Linear(cfg.conv_dim[-1], cfg.hidden_size)
        self.dropout = nn.Dropout(0.1)

    def forward(self, hidden_states):
        return self.dropout(self.projection(self.layer_norm(hidden_states)))


class WavLMSamePadLayer(nn.Module):
    def __init__(self, num_conv_pos_embeddings: int):
        super().__init__()
        self.num_pad_remove = 1 if num_conv_pos_embeddings % 2 == 0 else 0

    def forward(self, hidden_states):
        if self.num_pad_remove > 0:
            hidden_states = hidden_states[:, :, : -self.num_pad_remove]
        return hidden_states


class WavLMPositionalConvEmbedding(nn.Module):
    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        k = cfg.num_conv_pos_embeddings
        self.conv = nn.Conv1d(cfg.hidden_size, cfg.hidden_size, kernel_size=k, padding=k // 2,
                              groups=cfg.num_conv_pos_embedding_groups)
        self.padding = WavLMSamePadLayer(k)

    def forward(self, hidden_states):
        hidden_states = self.padding(self.conv(hidden_states.transpose(1, 2)))
        return F.gelu(hidden_states).transpose(1, 2)


class WavLMAttention(nn.Module):
    def __init__(self, cfg: WavLMConfig, has_relative_position_bias: bool):
        super().__init__()
        self.embed_dim = cfg.hidden_size
        self.num_heads = cfg.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.num_buckets = cfg.num_buckets
        self.max_distance = cfg.max_bucket_distance
        self.gru_rel_pos_const = nn.Parameter(torch.ones(1, self.num_heads, 1, 1))
        self.gru_rel_pos_linear = nn.Linear(self.head_dim, 8)
        if has_relative_position_bias:
            self.rel_attn_embed = nn.Embedding(self.num_buckets, self.num_heads)

    def forward(self, hidden_states, attention_mask=None, position_bias=None):
        bsz, tgt_len, _ = hidden_states.size()
        if position_bias is None:
            position_bias = self.compute_bias(tgt_len, tgt_len)
            position_bias = position_bias.unsqueeze(0).repeat(bsz, 1, 1, 1).view(bsz * self.num_heads, tgt_len, tgt_len)
        gated_hidden_states = hidden_states.view(hidden_states.shape[:-1] + (self.num_heads, -1)).permute(0, 2, 1, 3)
        relative_position_proj = self.gru_rel_pos_linear(gated_hidden_states)
        relative_position_proj = relative_position_proj.view(gated_hidden_states.shape[:-1] + (2, 4)).sum(-1)
        gate_a, gate_b = torch.sigmoid(relative_position_proj).chunk(2, dim=-1)
        gate_output = gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0
        gated_position_bias = gate_output.view(bsz * self.num_heads, -1, 1) * position_bias
        gated_position_bias = gated_position_bias.view((-1, tgt_len, tgt_len))

        query = key = value = hidden_states.transpose(0, 1)
        key_padding_mask = attention_mask.ne(1) if attention_mask is not None else None
        attn_output, _ = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, torch.empty([0]),
            torch.cat((self.q_proj.bias, self.k_proj.bias, self.v_proj.bias)),
            None, None, False, 0.0, self.out_proj.weight, self.out_proj.bias, self.training,
            key_padding_mask, False, gated_position_bias, use_separate_proj_weight=True,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
        )
        return attn_output.transpose(0, 1), position_bias

    def compute_bias(self, query_length, key_length):
        context_position = torch.arange(query_length, dtype=torch.long)[:, None]
        memory_position = torch.arange(key_length, dtype=torch.long)[None, :]
        relative_position_bucket = self._relative_positions_bucket(memory_position - context_position)
        return self.rel_attn_embed(relative_position_bucket).permute([2, 0, 1])

    def _relative_positions_bucket(self, relative_positions):
        num_buckets = self.num_buckets // 2
        relative_buckets = (relative_positions > 0).to(torch.long) * num_buckets
        relative_positions = torch.abs(relative_positions)
        max_exact = num_buckets // 2
        is_small = relative_positions < max_exact
        if_large = torch.log(relative_positions.float() / max_exact)
        if_large = if_large / math.log(self.max_distance / max_exact)
        if_large = if_large * (num_buckets - max_exact)
        if_large = (max_exact + if_large).to(torch.long)
        if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
        return relative_buckets + torch.where(is_small, relative_positions, if_large)


class WavLMFeedForward(nn.Module):
    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        self.intermediate_dropout = nn.Dropout(0.1)
        self.intermediate_dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output_dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.output_dropout = nn.Dropout(0.1)

    def forward(self, hidden_states):
        hidden_states = self.intermediate_dropout(F.gelu(self.intermediate_dense(hidden_states)))
        return self.output_dropout(self.output_dense(hidden_states))


class WavLMEncoderLayer(nn.Module):
    """Post-LN layer (Base)."""

    def __init__(self, cfg: WavLMConfig, has_relative_position_bias: bool):
        super().__init__()
        self.attention = WavLMAttention(cfg, has_relative_position_bias)
        self.dropout = nn.Dropout(0.1)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.feed_forward = WavLMFeedForward(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, position_bias=None):
        attn_residual = hidden_states
        hidden_states, position_bias = self.attention(hidden_states, attention_mask, position_bias)
        hidden_states = attn_residual + self.dropout(hidden_states)
        hidden_states = self.layer_norm(hidden_states)
        hidden_states = hidden_states + self.feed_forward(hidden_states)
        return self.final_layer_norm(hidden_states), position_bias


class WavLMEncoderLayerStableLayerNorm(WavLMEncoderLayer):
    """Pre-LN layer (Large): the layer's output is its last residual Add."""

    def forward(self, hidden_states, attention_mask=None, position_bias=None):
        attn_residual = hidden_states
        hidden_states = self.layer_norm(hidden_states)
        hidden_states, position_bias = self.attention(hidden_states, attention_mask, position_bias)
        hidden_states = attn_residual + self.dropout(hidden_states)
        hidden_states = hidden_states + self.feed_forward(self.final_layer_norm(hidden_states))
        return hidden_states, position_bias


class WavLMEncoder(nn.Module):
    layer_class = WavLMEncoderLayer
    stable = False

    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        self.pos_conv_embed = WavLMPositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(0.1)
        self.layers = nn.ModuleList([self.layer_class(cfg, i == 0) for i in range(cfg.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask=None, output_hidden_states=False):
        if attention_mask is not None:
            # make sure padded frames are 0 (HF: hidden_states[~expand_attention_mask] = 0)
            expand_attention_mask = attention_mask.unsqueeze(-1).repeat(1, 1, hidden_states.shape[2])
            hidden_states = hidden_states.masked_fill(~expand_attention_mask, 0.0)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not self.stable:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)
        all_hidden_states = ()
        position_bias = None
        for layer in self.layers:
            all_hidden_states += (hidden_states,)
            hidden_states, position_bias = layer(hidden_states, attention_mask, position_bias)
        if self.stable:
            hidden_states = self.layer_norm(hidden_states)
        all_hidden_states += (hidden_states,)
        return hidden_states, (all_hidden_states if output_hidden_states else None)


class WavLMEncoderStableLayerNorm(WavLMEncoder):
    layer_class = WavLMEncoderLayerStableLayerNorm
    stable = True


class WavLMModel(nn.Module):
    """HF WavLMModel. forward(input_values, attention_mask=None) returns last_hidden_state, or
    (last_hidden_state, hidden_states) with output_hidden_states=True."""

    def __init__(self, cfg: WavLMConfig):
        super().__init__()
        self.config = cfg
        self.feature_extractor = WavLMFeatureEncoder(cfg)
        self.feature_projection = WavLMFeatureProjection(cfg)
        self.encoder = WavLMEncoderStableLayerNorm(cfg) if cfg.do_stable_layer_norm else WavLMEncoder(cfg)

    def _get_feat_extract_output_lengths(self, input_lengths):
        for kernel_size, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            input_lengths = torch.div(input_lengths - kernel_size, stride, rounding_mode="floor") + 1
        return input_lengths

    def _get_feature_vector_attention_mask(self, feature_vector_length, attention_mask):
        non_padded_lengths = attention_mask.cumsum(dim=-1)[:, -1]
        output_lengths = self._get_feat_extract_output_lengths(non_padded_lengths).to(torch.long)
        batch_size = attention_mask.shape[0]
        mask = torch.zeros((batch_size, feature_vector_length), dtype=attention_mask.dtype, device=attention_mask.device)
        mask[(torch.arange(mask.shape[0], device=mask.device), output_lengths - 1)] = 1
        return mask.flip([-1]).cumsum(-1).flip([-1]).bool()

    def forward(self, input_values, attention_mask=None, output_hidden_states=False):
        extract_features = self.feature_extractor(input_values).transpose(1, 2)
        if attention_mask is not None:
            attention_mask = self._get_feature_vector_attention_mask(extract_features.shape[1], attention_mask)
        hidden_states = self.feature_projection(extract_features)
        last, all_hidden = self.encoder(hidden_states, attention_mask, output_hidden_states)
        return (last, all_hidden) if output_hidden_states else last


def init_wavlm(model: WavLMModel, seed: int) -> WavLMModel:
    """Random weights scaled so that every layer (and the gated position bias) changes the numbers visibly."""
    g = torch.Generator()
    g.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("rel_attn_embed.weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith("gru_rel_pos_const"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()
