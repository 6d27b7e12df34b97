"""HunyuanVideo text encoders: equal to diffusers' HunyuanVideoPipeline.encode_prompt on tiny random models."""

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaForCausalLM
from vgen_plugins.hunyuan_video.text_encoders import (
    PROMPT_TEMPLATE,
    CLIPPooledEncoder,
    LlamaPromptEncoder,
    tiny_tokenizers,
)

from vgen.errors import UserError

PROMPTS = ["a cat walks on the grass, realistic",
           "aerial shot of mountains and a river, " * 40,  # longer than 256 tokens: truncated
           "x"]


@pytest.fixture(scope="module")
def tiny_text():
    torch.manual_seed(0)
    tok, tok2 = tiny_tokenizers()
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                       pad_token_id=tok.pad_token_id)).eval()
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok2), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        bos_token_id=tok2.bos_token_id, eos_token_id=tok2.eos_token_id,
                                        pad_token_id=tok2.pad_token_id)).eval()
    return llm, tok, clip, tok2


def _diffusers_encode(llm_model, tok, clip, tok2, prompts):
    from diffusers import HunyuanVideoPipeline

    pipe = HunyuanVideoPipeline(text_encoder=llm_model, tokenizer=tok, transformer=None, vae=None, scheduler=None,
                                text_encoder_2=clip, tokenizer_2=tok2)
    # no crop_start: diffusers counts the template's tokens, as vgen does
    return pipe.encode_prompt(prompts, prompt_template={"template": PROMPT_TEMPLATE}, device="cpu")


def test_prompt_encoding_matches_diffusers(tiny_text):
    llm, tok, clip, tok2 = tiny_text
    enc = LlamaPromptEncoder(llm.model, tok)
    assert enc.crop_start == len(tok(PROMPT_TEMPLATE)["input_ids"]) - 2 > 20
    hidden, mask = enc(PROMPTS)
    pooled = CLIPPooledEncoder(clip, tok2)(PROMPTS)
    ref_hidden, ref_pooled, ref_mask = _diffusers_encode(llm.model, tok, clip, tok2, PROMPTS)
    assert hidden.shape == (3, 256, 32) and pooled.shape == (3, 32)
    assert torch.equal(mask, ref_mask)
    assert mask[1].all() and 0 < mask[0].sum() < 20  # the long prompt fills all 256, the short one few
    torch.testing.assert_close(hidden, ref_hidden, rtol=0, atol=1e-6)
    torch.testing.assert_close(pooled, ref_pooled, rtol=0, atol=1e-6)


def test_encoders_load_from_folders(tiny_text, tmp_path):
    llm, tok, clip, tok2 = tiny_text
    llm.save_pretrained(tmp_path / "llm")  # a LlamaForCausalLM file: ``model.`` prefix and lm_head are handled
    clip.save_pretrained(tmp_path / "clip")
    tok.save_pretrained(tmp_path / "tok")
    tok2.save_pretrained(tmp_path / "tok2")
    enc = LlamaPromptEncoder.from_folders(tmp_path / "llm", tmp_path / "tok", dtype=torch.float32)
    enc2 = CLIPPooledEncoder.from_folders(tmp_path / "clip", tmp_path / "tok2")
    assert not any(p.is_meta for p in enc.model.parameters())
    hidden, mask = enc(PROMPTS[:1])
    ref_hidden, ref_pooled, ref_mask = _diffusers_encode(llm.model, tok, clip, tok2, PROMPTS[:1])
    torch.testing.assert_close(hidden, ref_hidden, rtol=0, atol=1e-6)
    torch.testing.assert_close(enc2(PROMPTS[:1]), ref_pooled, rtol=0, atol=1e-6)
    # bf16 on request
    assert LlamaPromptEncoder.from_folders(tmp_path / "llm", tmp_path / "tok", dtype=torch.bfloat16).model.dtype \
        == torch.bfloat16

    with pytest.raises(UserError, match="missing tokenizer: .*nope"):
        LlamaPromptEncoder.from_folders(tmp_path / "llm", tmp_path / "nope")
    (tmp_path / "clip" / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no safetensors weights in .*clip"):
        CLIPPooledEncoder.from_folders(tmp_path / "clip", tmp_path / "tok2")
