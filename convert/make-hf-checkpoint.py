#!/usr/bin/env python3
"""make-hf-checkpoint.py - writes a synthetic DeepSeek-V4 checkpoint in the official Hugging Face
layout (config.json, model.safetensors.index.json, model-XXXXX-of-YYYYY.safetensors), for converter
benchmarks (memory bound, MB/s). It uses the standard library only. The values are pseudo-random
bytes: FP8 codes (never the NaN codes), E8M0 scales in a sane range (never 0xFF), finite BF16,
tid2eid ids < n_experts.

    python3 convert/make-hf-checkpoint.py OUT_DIR [--layers 2] [--experts 256] [--ratios 4,128]
                                          [--shard-gb 4]

Shapes are DeepSeek-V4-Flash's (spec deepseek-v4.md section 2). Written independently of the C
converter's name table. The default is 2 layers + MTP with 256 experts, about 12 GB.
"""
import argparse, json, os, struct

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--layers", type=int, default=2)
p.add_argument("--experts", type=int, default=256)
p.add_argument("--ratios", default="4,128", help="compress ratio per layer, comma separated (cycled)")
p.add_argument("--shard-gb", type=float, default=4.0)
a = p.parse_args()

D, V, H, HD, QL, OL, G, F, HC = 4096, 129280, 64, 512, 1024, 1024, 8, 2048, 4
IH, ID, K, E, L = 64, 128, 6, a.experts, a.layers
ratios = [int(x) for x in a.ratios.split(",")]
ratios = [ratios[i % len(ratios)] for i in range(L)] + [0]
n_hash = min(3, L)

# random bytes, reused with offsets (fast); no byte has its low 7 bits all ones, so no
# FP8 e4m3 code is NaN (0x7F/0xFF) and no BF16 high byte has an all-ones exponent
# (Inf/NaN): gds-convert refuses non-finite weights
pool = os.urandom(64 << 20).translate(bytes(b - 1 if b & 0x7F == 0x7F else b for b in range(256)))
pos = [0]
def rnd(n):
    out = bytearray()
    while len(out) < n:
        take = min(n - len(out), len(pool) - pos[0])
        out += pool[pos[0]:pos[0] + take]
        pos[0] = (pos[0] + take + 4099) % (len(pool) - 1)
    return bytes(out)

SCALE_TAB = bytes(100 + (b % 20) for b in range(256))
def scales(n):
    return rnd(n).translate(SCALE_TAB)

tensors = []  # (name, dtype, shape, producer)
def T(name, dtype, shape, prod): tensors.append((name, dtype, shape, prod))
size = {"BF16": 2, "F32": 4, "F8_E4M3": 1, "F8_E8M0": 1, "I8": 1, "I64": 8}
def nbytes(dtype, shape):
    n = size[dtype]
    for s in shape: n *= s
    return n
def fp8(name, n, k):
    T(name + ".weight", "F8_E4M3", [n, k], lambda nb: rnd(nb))
    T(name + ".scale", "F8_E8M0", [(n + 127) // 128, (k + 127) // 128], lambda nb: scales(nb))
def norm(name, n): T(name, "BF16", [n], lambda nb: bytes([0x80, 0x3f]) * (nb // 2))
def f32(name, shape): T(name, "F32", shape, lambda nb: struct.pack("<f", 0.01) * (nb // 4))
def bmat(name, shape): T(name, "BF16", shape, lambda nb: rnd(nb))

def block(pre, i, mtp):
    r = ratios[L] if mtp else ratios[i]
    norm(pre + "attn_norm.weight", D); norm(pre + "ffn_norm.weight", D)
    for h in ("attn", "ffn"):
        f32(pre + "hc_%s_fn" % h, [(2 + HC) * HC, HC * D]); f32(pre + "hc_%s_base" % h, [(2 + HC) * HC]); f32(pre + "hc_%s_scale" % h, [3])
    f32(pre + "attn.attn_sink", [H])
    fp8(pre + "attn.wq_a", QL, D); norm(pre + "attn.q_norm.weight", QL); fp8(pre + "attn.wq_b", H * HD, QL)
    fp8(pre + "attn.wkv", HD, D); norm(pre + "attn.kv_norm.weight", HD)
    fp8(pre + "attn.wo_a", G * OL, H * HD // G); fp8(pre + "attn.wo_b", D, G * OL)
    bmat(pre + "ffn.gate.weight", [E, D])
    if not mtp and i < n_hash:
        T(pre + "ffn.gate.tid2eid", "I64", [V, K], lambda nb: b"".join(struct.pack("<q", (j * 7 + 3) % E) for j in range(nb // 8)))
    else:
        f32(pre + "ffn.gate.bias", [E])
    for e in range(E):
        for w, n, k in (("w1", F, D), ("w2", D, F), ("w3", F, D)):
            T(pre + "ffn.experts.%d.%s.weight" % (e, w), "I8", [n, k // 2], lambda nb: rnd(nb))
            T(pre + "ffn.experts.%d.%s.scale" % (e, w), "F8_E8M0", [n, k // 32], lambda nb: scales(nb))
    fp8(pre + "ffn.shared_experts.w1", F, D); fp8(pre + "ffn.shared_experts.w3", F, D); fp8(pre + "ffn.shared_experts.w2", D, F)
    if r:
        c = 2 if r == 4 else 1
        bmat(pre + "attn.compressor.wkv.weight", [c * HD, D]); bmat(pre + "attn.compressor.wgate.weight", [c * HD, D])
        f32(pre + "attn.compressor.ape", [r, c * HD]); norm(pre + "attn.compressor.norm.weight", HD)
    if r == 4:
        fp8(pre + "attn.indexer.wq_b", IH * ID, QL); bmat(pre + "attn.indexer.weights_proj.weight", [IH, D])
        bmat(pre + "attn.indexer.compressor.wkv.weight", [2 * ID, D]); bmat(pre + "attn.indexer.compressor.wgate.weight", [2 * ID, D])
        f32(pre + "attn.indexer.compressor.ape", [4, 2 * ID]); norm(pre + "attn.indexer.compressor.norm.weight", ID)
    if mtp:
        fp8(pre + "e_proj", D, D); fp8(pre + "h_proj", D, D)
        norm(pre + "enorm.weight", D); norm(pre + "hnorm.weight", D); norm(pre + "norm.weight", D)
        f32(pre + "hc_head_fn", [HC, HC * D]); f32(pre + "hc_head_base", [HC]); f32(pre + "hc_head_scale", [1])

bmat("embed.weight", [V, D]); norm("norm.weight", D); bmat("head.weight", [V, D])
f32("hc_head_fn", [HC, HC * D]); f32("hc_head_base", [HC]); f32("hc_head_scale", [1])
for i in range(L): block("layers.%d." % i, i, False)
block("mtp.0.", L, True)

# split into shards of about shard-gb
limit = int(a.shard_gb * (1 << 30))
shards, cur, cur_size = [], [], 0
for t in tensors:
    nb = nbytes(t[1], t[2])
    if cur and cur_size + nb > limit: shards.append(cur); cur, cur_size = [], 0
    cur.append(t); cur_size += nb
shards.append(cur)
os.makedirs(a.out, exist_ok=True)
wmap, total = {}, 0
for si, sh in enumerate(shards):
    fn = "model-%05d-of-%05d.safetensors" % (si + 1, len(shards))
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, _ in sh:
        nb = nbytes(dt, shape)
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + nb]}
        off += nb; wmap[name] = fn
    hb = json.dumps(hdr, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(a.out, fn), "wb") as f:
        f.write(struct.pack("<Q", len(hb))); f.write(hb)
        for name, dt, shape, prod in sh:
            nb = nbytes(dt, shape)
            f.write(prod(nb))
    total += off
    print("%s: %d tensors, %.2f GB" % (fn, len(sh), off / 1e9), flush=True)
json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=2)
cfg = {
    "architectures": ["DeepseekV4ForCausalLM"], "model_type": "deepseek_v4", "hidden_size": D, "num_hidden_layers": L,
    "num_nextn_predict_layers": 1, "num_attention_heads": H, "num_key_value_heads": 1, "head_dim": HD, "qk_rope_head_dim": 64,
    "q_lora_rank": QL, "o_lora_rank": OL, "o_groups": G, "sliding_window": 128, "compress_ratios": ratios,
    "compress_rope_theta": 160000, "rope_theta": 10000, "max_position_embeddings": 1048576,
    "rope_scaling": {"type": "yarn", "factor": 16, "original_max_position_embeddings": 65536, "beta_fast": 32, "beta_slow": 1},
    "index_n_heads": IH, "index_head_dim": ID, "index_topk": 512, "n_routed_experts": E, "n_shared_experts": 1,
    "num_experts_per_tok": K, "moe_intermediate_size": F, "num_hash_layers": n_hash, "scoring_func": "sqrtsoftplus",
    "topk_method": "noaux_tc", "norm_topk_prob": True, "routed_scaling_factor": 1.5, "swiglu_limit": 10.0, "hc_mult": HC,
    "hc_sinkhorn_iters": 20, "hc_eps": 1e-6, "rms_norm_eps": 1e-6, "vocab_size": V, "bos_token_id": 0, "eos_token_id": 1,
    "expert_dtype": "fp4", "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                                   "scale_fmt": "ue8m0", "weight_block_size": [128, 128]},
}
json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2)
print("total %.2f GB in %d shards" % (total / 1e9, len(shards)))
