#!/usr/bin/python3
"""Generate the TEXT-side fixtures of emofeat (tiny random BERT encoders + reference embeddings).

Usage (from the repository root; needs the system python with torch 1.13 / onnx / numpy):

    /usr/bin/python3 scripts/gen/text_fixtures.py            # committed fixtures + demo model
    /usr/bin/python3 scripts/gen/text_fixtures.py --bench    # also the BERT-base-sized bench model

Inputs (read-only, never copied into the repository):

    ../shared/models/bert-base-uncased-tokenizer/tokenizer.json   genuine bert-base-uncased WordPiece
                                                                   tokenizer (30,522 entries)

What it writes (all deterministic: fixed seeds, single-threaded torch, fixed float formatting;
re-running reproduces the same numbers and, on the same torch build, the same bytes):

    fixtures/models/tiny-bert-30522/          random BERT, vocab 30522 (matches the shared tokenizer),
        config.json                           hidden 32, 2 layers, 4 heads, intermediate 64.
        tokenizer_config.json                 NO tokenizer.json here: tests assemble a temp folder with
        onnx/model.onnx                       ../shared/models/bert-base-uncased-tokenizer/tokenizer.json.
    models/tiny-bert-demo/                    same architecture, own small WordPiece vocabulary
        config.json, tokenizer_config.json,   (BERT special ids: [PAD]=0, [UNK]=100, [CLS]=101,
        tokenizer.json, onnx/model.onnx,      [SEP]=102, [MASK]=103), shipped for the demo.
        README.md                             Random weights: its embeddings are meaningless.
    fixtures/reference/text/
        tiny-bert-30522.json                  reference embeddings, max_len 128
        tiny-bert-30522-maxlen16.json         same texts, max_len 16 (truncation exercised hard)
        tiny-bert-demo.json                   demo model + its own vocabulary, max_len 128
    bench/models/bert-base-random/  (--bench) BERT-base size (12 x 768, 12 heads, ffn 3072, vocab 30522),
                                              random weights, with a copy of the shared tokenizer.json.
                                              bench/models is gitignored: never commit it.

Model: Hugging Face's BertModel re-implemented in plain torch with HF's module names (hf_modules.py:
embeddings.{word,position,token_type}_embeddings + LayerNorm eps 1e-12, encoder.layer.N.attention.self /
attention.output / intermediate / output, additive attention mask, exact erf GELU), exported with
torch.onnx.export (opset 14, dynamic batch/sequence axes; node names are module paths as in an Optimum export), inputs input_ids / attention_mask / token_type_ids (int64 [B,T]) and
output last_hidden_state (float32 [B,T,H]): the layout of Xenova/bert-base-uncased, so
transformers.js loads the folder with AutoModel / AutoTokenizer.

Reference embeddings are computed the REFERENCE way, independently of any JS code:
  * tokenization by the pure-Python WordPiece re-implementation below (HF BertTokenizer algorithm),
    reading the vocabulary from the tokenizer.json's model.vocab;
  * truncation to max_len ([CLS] + first max_len-2 wordpieces + [SEP]), padding to exactly max_len
    with [PAD]=0, attention mask 1 on real tokens, token_type_ids 0;
  * the torch model (not the ONNX file) in float32;
  * mean = sum(h * mask) / clamp(sum(mask), 1e-9) over all max_len positions, cls = h[:, 0].
JSON layout: {model, max_len, texts, input_ids (unpadded, incl. CLS/SEP), mean, cls}; floats are
printed with 9 significant digits (exact float32 round trip).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from hf_modules import BertModel, TextConfig, init_text_model  # noqa: E402
from common import (  # noqa: E402
    BENCH_MODELS_DIR,
    FIXTURES_DIR,
    MODELS_DIR,
    SHARED_DIR,
    REPO_ROOT,
)

SHARED_TOKENIZER = SHARED_DIR / "models" / "bert-base-uncased-tokenizer" / "tokenizer.json"
KNOWN_TEXT = "Hello world! Embeddings are unbelievable."
KNOWN_IDS = [101, 7592, 2088, 999, 7861, 8270, 4667, 2015, 2024, 23653, 1012, 102]

LAYER_NORM_EPS = 1e-12
MAX_POSITIONS = 512
ONNX_OPSET = 14
ONNX_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
ONNX_OUTPUTS = ["last_hidden_state"]

SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


# ===========================================================================
# 1. Independent WordPiece tokenizer (HF BertTokenizer algorithm)
# ===========================================================================


def _is_whitespace(ch: str) -> bool:
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # All non-letter/number ASCII is treated as punctuation (e.g. "$", "^", "`").
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class WordPieceTokenizer:
    """Pure-Python BERT tokenizer: BasicTokenizer + greedy longest-match-first WordPiece.

    Mirrors HF ``BertTokenizer(do_lower_case=True, tokenize_chinese_chars=True,
    strip_accents=None)``, i.e. the ``BertNormalizer`` + ``BertPreTokenizer`` + ``WordPiece``
    pipeline of a bert-base-uncased tokenizer.json.
    """

    def __init__(self, vocab: dict[str, int], unk_token: str = "[UNK]", prefix: str = "##",
                 max_input_chars_per_word: int = 100, lowercase: bool = True):
        self.vocab = vocab
        self.unk_token = unk_token
        self.prefix = prefix
        self.max_chars = max_input_chars_per_word
        self.lowercase = lowercase
        self.unk_id = vocab[unk_token]
        self.cls_id = vocab[SPECIAL_TOKENS["cls"]]
        self.sep_id = vocab[SPECIAL_TOKENS["sep"]]
        self.pad_id = vocab[SPECIAL_TOKENS["pad"]]

    @classmethod
    def from_tokenizer_json(cls, tok: dict) -> "WordPieceTokenizer":
        model = tok["model"]
        assert model["type"] == "WordPiece", model["type"]
        norm = tok.get("normalizer") or {}
        return cls(
            vocab=model["vocab"],
            unk_token=model.get("unk_token", "[UNK]"),
            prefix=model.get("continuing_subword_prefix", "##"),
            max_input_chars_per_word=model.get("max_input_chars_per_word", 100),
            lowercase=norm.get("lowercase", True),
        )

    # --- BasicTokenizer --------------------------------------------------
    @staticmethod
    def _clean_text(text: str) -> str:
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            out.append(" " if _is_whitespace(ch) else ch)
        return "".join(out)

    @staticmethod
    def _tokenize_chinese_chars(text: str) -> str:
        out = []
        for ch in text:
            if _is_chinese_char(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    @staticmethod
    def _strip_accents(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")

    @staticmethod
    def _split_on_punc(text: str) -> list[str]:
        words: list[list[str]] = []
        start_new = True
        for ch in text:
            if _is_punctuation(ch):
                words.append([ch])
                start_new = True
            else:
                if start_new:
                    words.append([])
                start_new = False
                words[-1].append(ch)
        return ["".join(w) for w in words]

    def basic_tokenize(self, text: str) -> list[str]:
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        out: list[str] = []
        for token in text.strip().split():
            if self.lowercase:
                token = token.lower()
                token = self._strip_accents(token)
            out.extend(t for t in self._split_on_punc(token) if t)
        # Re-split on whitespace, as HF does (no-op for ASCII whitespace, kept for fidelity).
        return " ".join(out).strip().split()

    # --- WordpieceTokenizer ----------------------------------------------
    def wordpiece(self, word: str) -> list[str]:
        chars = list(word)
        if len(chars) > self.max_chars:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(chars):
            end = len(chars)
            cur = None
            while start < end:
                sub = "".join(chars[start:end])
                if start > 0:
                    sub = self.prefix + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return [self.unk_token]
            pieces.append(cur)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for w in self.basic_tokenize(text) for p in self.wordpiece(w)]

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """[CLS] wordpieces [SEP], truncating the wordpieces to max_length - 2."""
        ids = [self.vocab.get(t, self.unk_id) for t in self.tokenize(text)]
        if max_length is not None:
            ids = ids[: max_length - 2]
        return [self.cls_id] + ids + [self.sep_id]


# ===========================================================================
# 2. The BERT model: Hugging Face's BertModel module tree (scripts/gen/hf_modules.py)
# ===========================================================================


def BertConfig(vocab_size: int, **kw) -> TextConfig:
    return TextConfig("bert", vocab_size=vocab_size, max_position_embeddings=MAX_POSITIONS,
                      layer_norm_eps=LAYER_NORM_EPS, **kw)


def build_bert(cfg: TextConfig, seed: int):
    """Eval-mode BertModel with deterministic random BERT-like weights."""
    return init_text_model(BertModel(cfg), seed)


def export_bert_onnx(model, cfg: TextConfig, path: Path) -> Path:
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, cfg.vocab_size, (2, 8), generator=g, dtype=torch.int64)
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 5:] = 0
    tt = torch.zeros(2, 8, dtype=torch.int64)
    dyn = {n: {0: "batch_size", 1: "sequence_length"} for n in ONNX_INPUTS + ONNX_OUTPUTS}
    return common.export_onnx(model, (ids, mask, tt), path, ONNX_INPUTS, ONNX_OUTPUTS, dyn, ONNX_OPSET)


def tokenizer_config() -> dict:
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "do_basic_tokenize": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": 512,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "mask_token": "[MASK]",
        "clean_up_tokenization_spaces": True,
    }


def write_model_folder(model, cfg: TextConfig, folder: Path, tokenizer_json: dict | None) -> list[Path]:
    folder = common.ensure_dir(folder)
    files = [
        common.write_plain_json(folder / "config.json", cfg.hf_config()),
        common.write_plain_json(folder / "tokenizer_config.json", tokenizer_config()),
    ]
    if tokenizer_json is not None:
        files.append(common.write_plain_json(folder / "tokenizer.json", tokenizer_json))
    files.append(export_bert_onnx(model, cfg, folder / "onnx" / "model.onnx"))
    return files


# ===========================================================================
# 3. Demo vocabulary / tokenizer.json
# ===========================================================================

# Common English words (conversation / emotion flavoured). Order = id order after the characters.
DEMO_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this from
or had by not word but what some we can out other were all there when up use your how said an each
she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very
through just form sentence great think say help low line differ turn cause much mean before move
right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light
kind off need house picture try us again animal point mother world near build self earth father
head stand own page should country found answer school grow study still learn plant cover food sun
four between state keep eye never last let thought city tree cross farm hard start might story saw
far sea draw left late run don't while press close night real life few north open seem together
next white children begin got walk example ease paper group always music those both mark often
letter until mile river car feet care second book carry took science eat room friend began idea
fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual
young ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half rock
order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen
six table travel less morning ten simple several vowel toward war lay against pattern slow center
love person money serve appear road map rain rule govern pull cold notice voice unit power town fine
certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able
pound done beauty drive stood contain front teach week final gave green oh quick develop ocean warm
free minute strong special mind behind clear tail produce fact street inch multiply nothing course
stay wheel full force blue object decide surface deep moon island foot system busy test record boat
common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among grand ball yet wave drop
heart am present heavy dance engine position arm wide sail material size vary settle speak weight
general ice matter circle pair include divide syllable felt perhaps pick sudden count square reason
length represent art subject region energy hunt probable bed brother egg ride cell believe fraction
forest sit race window store summer train sleep prove lone leg exercise wall catch mount wish sky
board joy winter sat written wild instrument kept glass grass cow job edge sign visit past soft fun
bright gas weather month million bear finish happy hope flower clothe strange gone jump baby eight
village meet root buy raise solve metal whether push seven paragraph third shall held hair describe
cook floor either result burn hill safe cat century consider type law bit coast copy phrase silent
tall sand soil roll temperature finger industry value fight lie beat excite natural view sense ear
else quite broke case middle kill son lake moment scale loud spring observe child straight consonant
nation dictionary milk speed method organ pay age section dress cloud surprise quiet stone tiny
climb cool design poor lot experiment bottom key iron single stick flat twenty skin smile crease
hole trade melody trip office receive row mouth exact symbol die least trouble shout except wrote
seed tone join suggest clean break lady yard rise bad blow oil blood touch grew cent mix team wire
cost lost brown wear garden equal sent choose fell fit flow fair bank collect save control decimal
gentle woman captain practice separate difficult doctor please protect noon whose locate ring
character insect caught period indicate radio spoke atom human history effect electric expect crop
modern element hit student corner party supply bone rail imagine provide agree thus capital won't
chair danger fruit rich thick soldier process operate guess necessary sharp wing create neighbor
wash bat rather crowd corn compare poem string bell depend meat rub tube famous dollar stream fear
sight thin triangle planet hurry chief colony clock mine tie enter major fresh search send yellow
gun allow print dead spot desert suit current lift rose continue block chart hat sell success
company subtract event particular deal swim term opposite wife shoe shoulder spread arrange camp
invent cotton born determine quart nine truck noise level chance gather shop stretch throw shine
property column molecule select wrong gray repeat require broad prepare salt nose plural anger claim
continent oxygen sugar death pretty skill women season solution magnet silver thank branch match
suffix especially fig afraid huge sister steel discuss forward similar guide experience score apple
bought led pitch coat mass card band rope slip win dream evening condition feed tool total basic
smell valley nor double seat arrive master track parent shore division sheet substance favor
connect post spend chord fat glad original share station dad bread charge proper bar offer segment
slave duck instant market degree populate chick dear enemy reply drink occur support speech nature
range steam motion path liquid log meant quotient teeth shell neck
i'm can't didn't doesn't isn't wasn't aren't couldn't wouldn't shouldn't haven't hasn't hadn't
i've i'll i'd you're you've you'll you'd he's she's it's we're we've we'll they're they've that's
there's what's who's let's
okay ok yeah yep nope hey hi hello bye goodbye thanks sorry excuse sir ma'am mom mommy daddy honey
sweetheart darling babe dude guys guy buddy man god gosh jesus damn hell wow whoa ugh hmm huh uh um
ah ahh aha oops ouch geez alright anyway anyways whatever really actually maybe probably definitely
absolutely totally exactly seriously honestly literally basically obviously apparently certainly
anymore already almost somewhere someone somebody something anything anybody anyone everyone
everybody everything everywhere nobody nowhere nothing myself yourself himself herself ourselves
themselves itself
feel feeling feelings felt emotion emotions mood happy happier happiest happiness glad pleased
delighted cheerful joyful excited exciting excitement thrilled ecstatic elated content calm relaxed
relieved grateful thankful proud hopeful amazing awesome wonderful fantastic great terrific
incredible unbelievable brilliant lovely beautiful perfect nice sweet cute funny hilarious
sad sadder saddest sadness unhappy upset depressed miserable lonely heartbroken hurt hurting
disappointed disappointing crying cried tears grief sorrow gloomy down blue awful terrible horrible
angry angrier anger mad furious annoyed annoying irritated frustrated frustrating hate hated hating
rage outraged pissed disgusted disgusting gross sick tired exhausted bored boring
scared afraid frightened terrified fear fearful nervous anxious worried worry worrying panic
shocked surprised surprising surprise astonished stunned confused confusing weird strange
neutral fine sure whatever calm quiet serious
love loved loving lover loves like liked likes hug kiss marry married marriage wedding divorce
boyfriend girlfriend husband wife kids kid baby family parents brother sister friend friends
yelling yell shouting scream screaming fight fighting argue argument blame fault lie lying liar
trust promise forgive forgiven apologize apology understand understood listen listening talking
told tell telling asked ask asking leave leaving left stay staying going gone come coming came
believe believed think thinking thought know knew known want wanted wanting need needed needs
please thank thanks welcome sorry mean meant matter matters care cared caring worry help helped
job work working worked boss money rent bills pay paid buy bought sell sold car drive flight
airport luggage bag bags ticket tickets line wait waiting waited minutes hours today tonight
tomorrow yesterday weekend morning afternoon evening week month year years ago later soon early
late again never ever always sometimes often once twice forever
house home room kitchen bed bathroom door phone call called calling email mail letter news
school college class teacher test exam grade party dinner lunch breakfast coffee drink drinks wine
beer food hungry eat eating ate restaurant movie movies music song songs dance game games
beach ocean vacation trip holiday christmas birthday present gift ring
army war navy soldier letter letters died dead death funeral hospital doctor sick
yes no not don't very so too also just only even still more most less least much many lot lots
big little small huge tiny long short high low old new young good better best bad worse worst
first last next other another same different own right wrong true false real fake
hello world embeddings embedding unbelievable speech emotion recognition utterance utterances
model models feature features audio text sentence sentences word words token tokens demo example
test testing random weights vector vectors number numbers
""".split()

DEMO_SUFFIXES = """
s es ed d ing ly er ers est ness ment ments ful less able ible tion tions sion al ial ous ive ity
y ie ies ish ism ist ists ize ized ise en n't 's 're 've 'll 'd un re ing's
""".split()


def build_demo_vocab() -> list[str]:
    """BERT-style id layout: [PAD]=0, [unused0..98]=1..99, [UNK]=100, [CLS]=101, [SEP]=102,
    [MASK]=103, then single characters, whole words, and '##' continuation pieces."""
    tokens: list[str] = ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    tokens += ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(tokens)

    def add(tok: str) -> None:
        if tok and tok not in seen:
            seen.add(tok)
            tokens.append(tok)

    # Characters the normalizer can emit from ASCII input (lowercased): punctuation, digits, a-z.
    chars = [chr(c) for c in range(33, 127) if not ("A" <= chr(c) <= "Z")]
    for c in chars:
        add(c)
    for w in DEMO_WORDS:
        w = w.lower()
        # BertPreTokenizer splits "don't" into don ' t, so keep only the pieces as words.
        for piece in WordPieceTokenizer._split_on_punc(w):
            add(piece)
    for c in chars:
        add("##" + c)
    for s in DEMO_SUFFIXES:
        if all(ch.isalpha() for ch in s):
            add("##" + s)
    # Whole words also usable as continuation pieces (for compounds like "everyone"+"##thing").
    for w in DEMO_WORDS:
        if w.isalpha() and len(w) >= 3:
            add("##" + w.lower())
        if len(tokens) >= 3000:
            break
    return tokens


def demo_tokenizer_json(vocab_tokens: list[str]) -> dict:
    vocab = {t: i for i, t in enumerate(vocab_tokens)}
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    added = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [cls_id], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [sep_id], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


DEMO_README = """# tiny-bert-demo

A **tiny, randomly initialised** BERT encoder (hidden 32, 2 layers, 4 heads, FFN 64) with a small
WordPiece vocabulary of {vocab_size} entries, shipped so that the emofeat demo and CLI run offline.

**Its weights are random: the embeddings it produces are meaningless numbers.** They are only useful
to check plumbing (shapes, batching, pooling, file formats). For real features use a pretrained
model such as `Xenova/bert-base-uncased`.

Layout (what transformers.js expects for a local BERT feature-extraction model):

- `config.json` (model_type `bert`, architectures `BertModel`)
- `tokenizer.json` (BertNormalizer lowercase, BertPreTokenizer, WordPiece `##`, `[CLS] $A [SEP]`),
  `tokenizer_config.json` (BertTokenizer, model_max_length 512)
- `onnx/model.onnx` (opset 14; inputs `input_ids`, `attention_mask`, `token_type_ids`, int64
  `[batch_size, sequence_length]`; output `last_hidden_state`, float32 `[batch_size, sequence_length, 32]`)

Special ids follow bert-base-uncased: `[PAD]`=0, `[UNK]`=100, `[CLS]`=101, `[SEP]`=102, `[MASK]`=103.

Generated by `scripts/gen/text_fixtures.py` (deterministic, seed {seed}); do not edit by hand.
"""


# ===========================================================================
# 4. Reference texts and embeddings
# ===========================================================================

_LONG_1 = (
    "You know what, I have been waiting for this moment for years, and now that it is finally here I "
    "honestly do not know what to feel. When we first moved to this town, I thought we would stay for "
    "a summer, maybe two, and then go back home to my mother and the little house by the river. But "
    "then your father got the job at the plant, and the kids started school, and every single year "
    "there was another reason to stay: the new roof, the dog, the neighbors who became our friends, "
    "the garden that finally started to grow something other than weeds. And now you are telling me "
    "that we are leaving next week, just like that, as if none of it ever mattered to anybody at all?"
)
_LONG_2 = (
    "Okay, okay -- listen: (1) the flight was delayed 3 hours; (2) they lost my luggage, twice!; "
    "(3) the hotel \"upgrade\" was a broom closet... and [4] nobody, NOBODY, at the front desk would "
    "even look at me. I said: 'Excuse me, sir? Sir?!' -- nothing. So I waited. And waited. And "
    "waited some more... 45 minutes! Then the manager (a Mr. O'Brien, or O'Brian?) finally shows up, "
    "smiles, and says #1 policy is 'customer-first'. Customer-first?! Are you kidding me?!?! I paid "
    "$1,299.99 for this 'experience' -- I want every cent back, plus interest @ 5%, plus a written "
    "apology, signed & dated, by 5:00 p.m. today; otherwise, I swear, I will write a review so long "
    "it needs a table of contents: chapter 1, chapter 2, chapter 3 ... you get the idea!!!"
)
_LONG_3 = (
    "Ich weiß nicht, was ich sagen soll. Je ne sais pas quoi dire, vraiment, c'est incroyable — "
    "la réunion était à 9h30, et personne n'est venu. 我真的不知道该说什么。Честно говоря, я очень "
    "устал. Ελπίζω ότι αύριο θα είναι καλύτερα. ¿Por qué siempre pasa esto? ¡Qué día tan largo! "
    "But anyway, I'm fine, really, I'm totally fine... 😅🙃 It's just that everything, and I mean "
    "EVERYTHING, went wrong today: the café was closed, the naïve intern deleted my résumé, and the "
    "coöperative board rejected the proposal for the third time in a row. Über-frustrating!"
)

TEXTS: list[str] = [
    KNOWN_TEXT,
    "Excuse me.",
    "I can't believe you did that!",
    "Oh my God, that's amazing.",
    "Yeah.",
    "What do you mean you're leaving? You just got here.",
    "I'm so sorry. I didn't mean to hurt you.",
    "Get out. Get out of my house right now!",
    "Well, I guess it doesn't really matter anymore...",
    "Are you kidding me?! That's the best news I've heard all year!",
    "Hmm. I don't know. Maybe tomorrow?",
    "No, no, no -- listen to me -- it wasn't my fault.",
    "\"Fine,\" she said. 'Whatever you want.'",
    "Well... I\u2014 I just thought we'd have more time.",
    "I... I don't... I don't know what to say.",
    "ALL CAPS SHOUTING IS STILL LOWERCASED!!!",
    "Let's go!!! Whoo-hoo!!!",
    "The unaffable, unbelievably uncharacteristic behaviour of the antidisestablishmentarianists.",
    "café naïve résumé",
    "Über schön, Grüße aus München! Die Straße ist lang.",
    "Ça va? Ñandú, jalapeño, Øresund, Ångström.",
    "我很高兴",
    "今天我很高兴见到你!",
    "I love it 😊😂👍🏽 so much ❤️",
    "مرحبا، كيف حالك؟",
    "میں بہت خوش ہوں",
    "Привет, как дела? Γειά σου!",
    "...?!",
    "--",
    "It cost $1,234.56 on 03/14/2015 at 10:30pm, about 42% more.",
    "3.14159 2718 1e-9 007 1st 2nd 3rd",
    "Mr. O'Neil's e-mail: john.doe@example.com #blessed @you ~home~ a^b `code` {x} [y] <z> |w|",
    "That was " + "supercalifragilisticexpialidocious" * 4 + " indeed.",
    "tabs\tand\nnewlines\r\nand\u00a0non-breaking\u00a0spaces",
    "zero\u200bwidth, soft\u00adhyphen, nul\u0000char and replacement\ufffdchar",
    ".",
    "a",
    "   x   ",
    _LONG_1,
    _LONG_2,
    _LONG_3,
]


def reference_embeddings(model, tok: WordPieceTokenizer, texts: list[str], max_len: int):
    """Tokenize (truncate + pad to exactly max_len), run the torch model, pool (mean / cls)."""
    import torch

    input_ids = [tok.encode(t, max_length=max_len) for t in texts]
    ids = torch.full((len(texts), max_len), tok.pad_id, dtype=torch.int64)
    mask = torch.zeros((len(texts), max_len), dtype=torch.int64)
    for i, row in enumerate(input_ids):
        assert len(row) <= max_len
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
        mask[i, : len(row)] = 1
    tt = torch.zeros_like(ids)
    with torch.no_grad():
        h = model(ids, mask, tt)  # [B, max_len, H] float32
        assert h.dtype == torch.float32
        m = mask.unsqueeze(-1).to(torch.float32)
        mean = (h * m).sum(dim=1) / torch.clamp(m.sum(dim=1), min=1e-9)
        cls = h[:, 0]
    return input_ids, mean.numpy(), cls.numpy()


def write_reference(path: Path, name: str, model, tok: WordPieceTokenizer, max_len: int) -> Path:
    import json

    input_ids, mean, cls = reference_embeddings(model, tok, TEXTS, max_len)
    out = common.write_json(path, {
        "model": name,
        "max_len": max_len,
        "texts": TEXTS,
        "input_ids": input_ids,
        "mean": mean,
        "cls": cls,
    })
    back = json.loads(out.read_text(encoding="utf-8"))
    assert back["texts"] == TEXTS and back["input_ids"] == input_ids
    import numpy as np

    # 9 significant digits round-trip float32 exactly.
    assert np.array_equal(np.asarray(back["mean"], dtype=np.float32), mean)
    assert np.array_equal(np.asarray(back["cls"], dtype=np.float32), cls)
    return out


# ===========================================================================
# 5. Main
# ===========================================================================

TINY_SEED = 30522
DEMO_SEED = 2024
BENCH_SEED = 768


def load_shared_tokenizer() -> dict:
    import json

    if not SHARED_TOKENIZER.is_file():
        sys.exit(f"missing shared tokenizer: {SHARED_TOKENIZER}")
    return json.loads(SHARED_TOKENIZER.read_text(encoding="utf-8"))


def check_tokenizer(tok: WordPieceTokenizer) -> None:
    got = tok.encode(KNOWN_TEXT)
    assert got == KNOWN_IDS, f"WordPiece re-implementation mismatch: {got} != {KNOWN_IDS}"
    # Basic-tokenizer sanity checks (independent of the vocabulary).
    assert tok.basic_tokenize("  Héllo,\tWORLD!  ") == ["hello", ",", "world", "!"]
    assert tok.basic_tokenize("我很x") == ["我", "很", "x"]
    assert tok.basic_tokenize("a\u200bb\u0000c\ufffdd") == ["abcd"]
    assert tok.wordpiece("x" * 101) == ["[UNK]"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", action="store_true",
                    help="also write bench/models/bert-base-random (BERT-base size, gitignored)")
    args = ap.parse_args(argv)

    written: list[Path] = []
    shared = load_shared_tokenizer()
    shared_tok = WordPieceTokenizer.from_tokenizer_json(shared)
    check_tokenizer(shared_tok)
    print(f"WordPiece re-implementation OK on {KNOWN_TEXT!r} -> {KNOWN_IDS}")

    # a. tiny-bert-30522 (vocab of the shared bert-base-uncased tokenizer; no tokenizer.json here)
    common.seed_everything(TINY_SEED)
    cfg = BertConfig(vocab_size=len(shared["model"]["vocab"]))
    assert cfg.vocab_size == 30522
    model = build_bert(cfg, TINY_SEED)
    folder = FIXTURES_DIR / "models" / "tiny-bert-30522"
    if (folder / "tokenizer.json").exists():
        (folder / "tokenizer.json").unlink()  # never commit the shared tokenizer
    written += write_model_folder(model, cfg, folder, tokenizer_json=None)
    ref_dir = FIXTURES_DIR / "reference" / "text"
    written.append(write_reference(ref_dir / "tiny-bert-30522.json", "tiny-bert-30522", model, shared_tok, 128))
    written.append(write_reference(ref_dir / "tiny-bert-30522-maxlen16.json", "tiny-bert-30522", model,
                                   shared_tok, 16))

    # b. tiny-bert-demo (own small vocabulary)
    common.seed_everything(DEMO_SEED)
    demo_vocab = build_demo_vocab()
    demo_tj = demo_tokenizer_json(demo_vocab)
    demo_tok = WordPieceTokenizer.from_tokenizer_json(demo_tj)
    assert (demo_tok.pad_id, demo_tok.unk_id, demo_tok.cls_id, demo_tok.sep_id) == (0, 100, 101, 102)
    dcfg = BertConfig(vocab_size=len(demo_vocab))
    dmodel = build_bert(dcfg, DEMO_SEED)
    dfolder = MODELS_DIR / "tiny-bert-demo"
    written += write_model_folder(dmodel, dcfg, dfolder, tokenizer_json=demo_tj)
    readme = dfolder / "README.md"
    readme.write_text(DEMO_README.format(vocab_size=len(demo_vocab), seed=DEMO_SEED), encoding="utf-8")
    written.append(readme)
    written.append(write_reference(ref_dir / "tiny-bert-demo.json", "tiny-bert-demo", dmodel, demo_tok, 128))

    common.print_summary("Committed text fixtures:", written)
    total = sum(p.stat().st_size for p in written)
    assert total < 10 * 1024 * 1024, f"committed text fixtures too large: {total} bytes"

    # c. bench model (gitignored)
    if args.bench:
        common.seed_everything(BENCH_SEED)
        bcfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                          num_attention_heads=12, intermediate_size=3072)
        bmodel = build_bert(bcfg, BENCH_SEED)
        bfolder = BENCH_MODELS_DIR / "bert-base-random"
        bench_files = write_model_folder(bmodel, bcfg, bfolder, tokenizer_json=None)
        shutil.copyfile(SHARED_TOKENIZER, bfolder / "tokenizer.json")  # gitignored folder only
        bench_files.append(bfolder / "tokenizer.json")
        common.print_summary("Bench model (gitignored, do not commit):", bench_files)

    print(f"\nDone. Repo root: {REPO_ROOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
