"""The one message catalogue of the homework commands, in English and Korean.

Each message is one whole sentence (or one line of working) per language, with named
placeholders: a translation never glues pieces of sentences together, so each language
keeps its own word order (Korean puts the verb last and the numbers early). Numbers are
formatted by the caller (`f"{n:,}"`) and passed in as values.

The language is chosen once per command (`--lang`, else the environment's LANG) by
`set_language`; `tr(key, **values)` writes the message in it. English is the default.
"""

from __future__ import annotations

import os
import string
from typing import Mapping

LANGUAGES = ("en", "ko")
_current = ["en"]


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """'ko' when the locale asks for Korean (LC_ALL, LC_MESSAGES or LANG = ko_KR.UTF-8, ko),
    else 'en'. The first of those variables that is set decides, as in POSIX."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def set_language(language: str | None) -> str:
    """Use `language` ('en' or 'ko'; None: from the environment) from now on."""
    chosen = language_from_env() if language is None else language
    if chosen not in LANGUAGES:
        raise ValueError(f"unknown language {chosen!r}")
    _current[0] = chosen
    return chosen


def language() -> str:
    return _current[0]


def tr(message: str, **values) -> str:
    """The message `key` in the current language, its placeholders filled."""
    return CATALOGUE[message][_current[0]].format(**values)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# Terms follow the course notes: 출력 크기 (output size), 커널/필터, 스트라이드, 패딩,
# 파라미터, 편향 (bias), 입력 채널, 수용장 (receptive field), 평탄화 (flatten), 완전연결층
# (Dense/FC), 교차 엔트로피 (cross entropy).
CATALOGUE: dict[str, dict[str, str]] = {}


def _add(key: str, en: str, ko: str) -> None:
    CATALOGUE[key] = {"en": en, "ko": ko}


_add("hint.did_you_mean", " (did you mean '{word}'?)", " ('{word}'을(를) 뜻했나요?)")

# -- size ---------------------------------------------------------------------------------------
_add("size.same.rule", "TensorFlow 'same': out = ceil(in / stride)", "TensorFlow 'same': 출력 = ceil(입력 / 스트라이드)")
_add("size.same.numbers", "    = ceil({n} / {s}) = {out}", "    = ceil({n} / {s}) = {out}")
_add("size.same.padding_rule", "padding = max((out - 1)*stride + dilation*(kernel - 1) + 1 - in, 0)",
     "패딩 = max((출력 - 1)*스트라이드 + 팽창*(커널 - 1) + 1 - 입력, 0)")
_add("size.same.padding_numbers", "    = max({out1}*{s} + {d}*{k1} + 1 - {n}, 0) = {total}: {before} before, {after} after",
     "    = max({out1}*{s} + {d}*{k1} + 1 - {n}, 0) = {total}: 앞에 {before}, 뒤에 {after}")
_add("size.conv.rule", "out = {rounding}((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1   (PyTorch)",
     "출력 = {rounding}((입력 + 2*패딩 - 팽창*(커널 - 1) - 1) / 스트라이드) + 1   (PyTorch)")
_add("size.valid.rule", "out = {rounding}((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1   ('valid': no padding)",
     "출력 = {rounding}((입력 + 2*패딩 - 팽창*(커널 - 1) - 1) / 스트라이드) + 1   ('valid': 패딩 없음)")
_add("size.ceil.dropped",
     "the last window would start at {last}*{s} = {start}, in the right padding (>= in + padding = {limit}): "
     "dropped, so out = {out}   (PyTorch's ceil_mode rule)",
     "마지막 창은 {last}*{s} = {start}에서 시작해 오른쪽 패딩 안에 놓이므로(>= 입력 + 패딩 = {limit}) 버립니다. "
     "따라서 출력 = {out}   (PyTorch의 ceil_mode 규칙)")
_add("size.no_fit",
     "the window does not fit: the padded input has {padded} positions but the kernel spans {span}; "
     "allowed: a smaller kernel or dilation, or more padding",
     "창이 들어가지 않습니다: 패딩을 더한 입력은 {padded}칸인데 커널은 {span}칸에 걸칩니다. "
     "커널이나 팽창(dilation)을 줄이거나 패딩을 늘리세요")
_add("size.empty", "the output would have {out} positions; allowed: a smaller kernel or stride, or more padding",
     "출력이 {out}칸이 됩니다. 커널이나 스트라이드를 줄이거나 패딩을 늘리세요")
_add("size.empty_transposed", "the output would have {out} positions; allowed: less padding",
     "출력이 {out}칸이 됩니다. 패딩을 줄이세요")
_add("size.tail.one",
     "the division is not exact: the last 1 of the {n} input {noun} (number {first}, counting from 0) is never reached by a window "
     "({padded} - {span} = {rest} is not a multiple of {s})",
     "나눗셈이 나누어떨어지지 않습니다: 입력 {noun} {n}개 중 마지막 1개({first}번째, 0부터 셈)는 어떤 창에도 들어가지 않습니다 "
     "({padded} - {span} = {rest}은(는) {s}의 배수가 아님)")
_add("size.tail.many",
     "the division is not exact: the last {count} of the {n} input {noun} (numbers {first} to {last}, counting from 0) are never "
     "reached by a window ({padded} - {span} = {rest} is not a multiple of {s})",
     "나눗셈이 나누어떨어지지 않습니다: 입력 {noun} {n}개 중 마지막 {count}개({first}~{last}번째, 0부터 셈)는 어떤 창에도 들어가지 "
     "않습니다 ({padded} - {span} = {rest}은(는) {s}의 배수가 아님)")
_add("axis.H", "rows", "행")
_add("axis.W", "columns", "열")
_add("axis.D", "planes", "평면")
_add("axis.L", "positions", "위치")
_add("size.axis_warning", "along {axis}: {warning}", "{axis} 축 방향: {warning}")
_add("size.axis", "axis {axis}:", "{axis}번째 축:")
_add("size.output", "output: {output}", "출력: {output}")
_add("size.output_padding_large.keras", "output_padding {value} is too large; allowed: less than the stride {s} (Keras)",
     "output_padding {value}이(가) 너무 큽니다. 스트라이드 {s}보다 작아야 합니다 (Keras)")
_add("size.output_padding_large.torch",
     "output_padding {value} is too large; allowed: less than the stride {s} or the dilation {d} (PyTorch)",
     "output_padding {value}이(가) 너무 큽니다. 스트라이드 {s} 또는 팽창 {d}보다 작아야 합니다 (PyTorch)")
_add("size.keras_transposed.same", "Keras 'same': out = in * stride", "Keras 'same': 출력 = 입력 * 스트라이드")
_add("size.keras_transposed.valid", "Keras 'valid': out = (in - 1)*stride + max(dilation*(kernel - 1) + 1, stride)",
     "Keras 'valid': 출력 = (입력 - 1)*스트라이드 + max(팽창*(커널 - 1) + 1, 스트라이드)")
_add("size.keras_transposed.padded",
     "Keras '{padding}': out = (in - 1)*stride + dilation*(kernel - 1) + 1 - 2*pad + output_padding, pad = {pad_rule}",
     "Keras '{padding}': 출력 = (입력 - 1)*스트라이드 + 팽창*(커널 - 1) + 1 - 2*pad + output_padding, pad = {pad_rule}")
_add("size.keras_transposed.span", "kernel span // 2", "커널 폭 // 2")
_add("size.transposed.rule", "out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1   (PyTorch)",
     "출력 = (입력 - 1)*스트라이드 - 2*패딩 + 팽창*(커널 - 1) + output_padding + 1   (PyTorch)")
_add("size.bad_n", "N must be a positive size such as 28 or 224x224; received '{n}'",
     "N은 28이나 224x224 같은 양의 크기여야 합니다. 받은 값: '{n}'")
_add("size.at_least", "{option} must be at least {low}; received {value}", "{option}은(는) {low} 이상이어야 합니다. 받은 값: {value}")
_add("size.ceil_without_pool", "--ceil goes with --pool (PyTorch's ceil_mode is a pooling option)",
     "--ceil은 --pool과 함께 씁니다 (PyTorch의 ceil_mode는 풀링의 옵션입니다)")
_add("size.transposed_and_pool", "--transposed and --pool are different layers; allowed: one of them",
     "--transposed와 --pool은 서로 다른 층입니다. 둘 중 하나만 쓰세요")
_add("size.output_padding_alone", "--output-padding goes with --transposed", "--output-padding은 --transposed와 함께 씁니다")
_add("size.strict", "{warning} (--strict)", "{warning} (--strict)")

# -- solve --------------------------------------------------------------------------------------
_add("solve.kind.conv", "convolution", "합성곱")
_add("solve.kind.transposed", "transposed convolution", "전치 합성곱(transposed convolution)")
_add("solve.kind.pool", "pooling", "풀링")
_add("solve.none", "no {kind} setting within kernel 1-{kmax}, stride 1-{smax}, dilation 1-{dmax} turns {n_in} into {n_out}",
     "커널 1-{kmax}, 스트라이드 1-{smax}, 팽창 1-{dmax} 범위에서 {n_in}을(를) {n_out}(으)로 만드는 {kind} 설정은 없습니다")
_add("solve.header", "{kind} settings turning {n_in} into {n_out}, standard designs first:",
     "{n_in}을(를) {n_out}(으)로 만드는 {kind} 설정 (표준적인 설계부터):")
_add("solve.more", "  ... {count} more (--all)", "  ... 그 밖에 {count}개 (--all)")
_add("solve.setting", "kernel {kernel}, stride {stride}, padding {padding}", "커널 {kernel}, 스트라이드 {stride}, 패딩 {padding}")
_add("solve.dilation", "dilation {dilation}", "팽창 {dilation}")
_add("solve.output_padding", "output_padding {value}", "output_padding {value}")
_add("solve.flag.inexact", "inexact division", "나누어떨어지지 않음")
_add("solve.flag.holes", "kernel < stride: inputs skipped", "커널 < 스트라이드: 건너뛰는 입력이 있음")
_add("solve.flag.checkerboard", "kernel < stride: holes in the output", "커널 < 스트라이드: 출력에 빈 곳이 생김")
_add("solve.flag.uneven", "kernel not a multiple of stride: uneven overlap", "커널이 스트라이드의 배수가 아님: 겹침이 고르지 않음")
_add("solve.bad_padding", "-p must be an integer, same or valid; received '{value}'",
     "-p는 정수, same, valid 중 하나여야 합니다. 받은 값: '{value}'")
_add("solve.axes_differ", "--in and --out must have as many axes; received --in {n_in} and --out {n_out}",
     "--in과 --out의 축 개수가 같아야 합니다. 받은 값: --in {n_in}, --out {n_out}")
_add("solve.bad_size", "{option} must be a positive size such as 28 or 224x224; received '{value}'",
     "{option}은(는) 28이나 224x224 같은 양의 크기여야 합니다. 받은 값: '{value}'")
_add("solve.axis", "axis {axis} ({n_in} -> {n_out}):", "{axis}번째 축 ({n_in} -> {n_out}):")
_add("solve.too_large",
     "the search would try about {count:,} settings; allowed: at most {limit:,} (fix -k or -s to narrow it)",
     "탐색할 설정이 약 {count:,}개나 됩니다. 최대 {limit:,}개까지 허용됩니다 (-k나 -s를 정해 범위를 좁히세요)")

# -- check --------------------------------------------------------------------------------------
_add("check.right", "right  {layer} {field}: {given}", "정답  {layer} {field}: {given}")
_add("check.wrong", "WRONG  {layer} {field}: you wrote {given}, the network gives {right}",
     "오답  {layer} {field}: {given}(이)라고 썼지만 네트워크의 값은 {right}입니다")
_add("check.read_as", "read as {value}", "{value}(으)로 읽었습니다")
_add("check.score", "score: {right}/{total}", "점수: {right}/{total}")
_add("check.not_mapping", "the answers must map layer names (and 'total') to their figures",
     "답안은 층 이름(합계는 'total')마다 값을 적은 매핑이어야 합니다")
_add("check.no_layer", "no layer named '{name}'{hint}; allowed: a layer name or 'total'",
     "'{name}'이라는 층이 없습니다{hint}. 층 이름이나 'total'을 쓰세요")
_add("check.layer_not_mapping", "the answers for '{name}' must be a mapping such as {{params: 320}}",
     "'{name}'의 답은 {{params: 320}}처럼 매핑이어야 합니다")
_add("check.unknown_field", "unknown field '{field}'{hint}; allowed: {allowed}",
     "알 수 없는 항목 '{field}'입니다{hint}. 쓸 수 있는 항목: {allowed}")
_add("check.unreadable",
     "cannot read the answer for {name} {field}: {given}; allowed: {allowed}",
     "{name} {field}의 답을 읽을 수 없습니다: {given}. 쓸 수 있는 형식: {allowed}")
_add("check.allowed.number", "a number such as 401536 or 401,536", "401536이나 401,536 같은 수")
_add("check.allowed.shape", "a shape such as [32, 26, 26], 32x26x26 or (32, 26, 26)",
     "[32, 26, 26], 32x26x26, (32, 26, 26) 같은 모양")
_add("check.allowed.field", "a size such as 5, 5x5, [5, 5] or {{size: 5}}", "5, 5x5, [5, 5], {{size: 5}} 같은 크기")
_add("check.bad_convention", "unknown flops_convention '{value}'{hint}; allowed: {allowed}",
     "알 수 없는 flops_convention '{value}'입니다{hint}. 쓸 수 있는 값: {allowed}")
_add("check.usage",
     "check takes the network and the answers: cnncalc check FILE ANSWERS, or cnncalc check -e TEXT ANSWERS; file names given: {count}",
     "check에는 네트워크와 답안이 필요합니다: cnncalc check FILE ANSWERS 또는 cnncalc check -e TEXT ANSWERS. 받은 파일 이름: {count}개")
_add("check.one_network", "give the network as FILE or as -e TEXT, not both; received FILE '{file}' and -e",
     "네트워크는 FILE과 -e TEXT 중 하나로만 주세요. 받은 값: FILE '{file}'과 -e")
# notes on wrong answers
_add("note.spatial_only", "read as the spatial size {spatial} only (no channel count given); it agrees with {right}",
     "채널 수 없이 공간 크기 {spatial}만 적은 것으로 읽었습니다. {right}와(과) 맞습니다")
_add("note.layout_cl",
     "layout mix-up: these are the right sizes in channels_last (H, W, C) order, but the file is channels_first: write {right}",
     "채널 순서 혼동: 값은 맞지만 channels_last (H, W, C) 순서입니다. 이 파일은 channels_first이므로 {right}(으)로 쓰세요")
_add("note.layout_cf",
     "layout mix-up: these are the right sizes in channels_first (C, H, W) order, but the file is channels_last: write {right}",
     "채널 순서 혼동: 값은 맞지만 channels_first (C, H, W) 순서입니다. 이 파일은 channels_last이므로 {right}(으)로 쓰세요")
_add("note.batch", "this includes a batch dimension; shapes here are per sample", "배치 차원이 들어 있습니다. 여기서 모양은 샘플 하나 기준입니다")
_add("note.padding_swapped", "that is the output with padding {other}; this layer has padding {actual}",
     "그 값은 패딩이 {other}일 때의 출력입니다. 이 층의 패딩은 {actual}입니다")
_add("note.stride_off", "that is the output with stride {other}; this layer has stride {actual}",
     "그 값은 스트라이드가 {other}일 때의 출력입니다. 이 층의 스트라이드는 {actual}입니다")
_add("note.padding_off", "that is the output with padding {other}; this layer has padding {actual}",
     "그 값은 패딩이 {other}일 때의 출력입니다. 이 층의 패딩은 {actual}입니다")
_add("note.keras_total",
     "that is Keras's total, which counts BatchNorm's running statistics; PyTorch's parameters() does not",
     "그 값은 BatchNorm의 이동 통계(running statistics)까지 센 Keras의 합계입니다. PyTorch의 parameters()는 세지 않습니다")
_add("note.total_one_layer", "that is the parameters of {layer} alone; the total adds every layer's",
     "그 값은 {layer} 한 층의 파라미터입니다. 합계는 모든 층의 파라미터를 더합니다")
_add("note.total_one_layer_no_bias",
     "that is the weights of {layer} alone, without its bias; the total adds every layer's weights and biases",
     "그 값은 편향(bias)을 뺀 {layer} 한 층의 가중치입니다. 합계는 모든 층의 가중치와 편향을 더합니다")
_add("note.total_no_bias", "that is the total without any bias: the biases add {biases:,}",
     "편향(bias)을 모두 뺀 합계입니다. 편향이 {biases:,}개 더 있습니다")
_add("note.flops_2macs",
     "that is 2 x MACs ({macs:,}), the textbook count; cnncalc's FLOPs also count bias additions, activations and "
     "pooling. Write 'flops_convention: 2macs' in the answers to be marked by 2 x MACs",
     "그 값은 교과서식 2 x MACs ({macs:,})입니다. cnncalc의 FLOPs는 편향 덧셈, 활성화, 풀링까지 셉니다. "
     "2 x MACs로 채점받으려면 답안에 'flops_convention: 2macs'를 쓰세요")
_add("note.flops_is_macs", "that is the MAC count: a multiply-accumulate is 2 floating-point operations",
     "그 값은 MAC 수입니다. 곱셈-누산 한 번은 부동소수점 연산 2번입니다")
_add("note.macs_is_flops", "that is a FLOP count (2 x MACs); a MAC is one multiply and one add",
     "그 값은 FLOP 수(2 x MACs)입니다. MAC 하나는 곱셈 한 번과 덧셈 한 번입니다")
_add("note.flops_convention", "flops_convention 2macs: FLOPs = 2 x MACs = 2 x {macs:,} = {flops:,}",
     "flops_convention 2macs: FLOPs = 2 x MACs = 2 x {macs:,} = {flops:,}")
# params slips, said by the layer types (Layer.params_note)
_add("note.channels_from_input",
     "the channel count of the output is the number of filters (out = {out}), not the input's {channels} channels",
     "출력의 채널 수는 입력 채널 수 {channels}이(가) 아니라 필터 개수(out = {out})입니다")
_add("note.dense_no_bias", "the bias is forgotten: in {features:,} x out {out:,} = {given:,}; each output also has a bias, so + {out:,}",
     "편향(bias)을 빠뜨렸습니다: 입력 {features:,} x 출력 {out:,} = {given:,}. 출력마다 편향이 하나씩 있으므로 {out:,}을(를) 더합니다")
_add("note.dense_features", "{given:,} implies {implied:,} input features, but this layer receives {features:,} from {shape}",
     "{given:,}은(는) 입력 특징 {implied:,}개를 뜻하지만, 이 층은 {shape}에서 {features:,}개를 받습니다")
_add("note.conv_no_bias",
     "the bias is forgotten: (kernel {kernel} x in {per_group}) x out {out} = {given:,}; each filter also has a bias, so + {out}",
     "편향(bias)을 빠뜨렸습니다: (커널 {kernel} x 입력 채널 {per_group}) x 필터 {out} = {given:,}. 필터마다 편향이 하나씩 있으므로 {out}을(를) 더합니다")
_add("note.transposed_no_bias",
     "the bias is forgotten: kernel {size} x out/groups {second} x in {first} = {given:,}; each output channel also has a bias, so + {out}",
     "편향(bias)을 빠뜨렸습니다: 커널 {size} x 출력 채널/그룹 {second} x 입력 채널 {first} = {given:,}. 출력 채널마다 편향이 하나씩 있으므로 {out}을(를) 더합니다")
_add("note.conv_no_channels",
     "the input channels are forgotten: a filter spans all {per_group} input channels, kernel {kernel} x {per_group}, not kernel {kernel} alone",
     "입력 채널을 빠뜨렸습니다: 필터 하나는 입력 채널 {per_group}개 전체에 걸치므로 커널 {kernel}이 아니라 {kernel} x {per_group}입니다")
_add("note.conv_no_channels_no_bias",
     "the input channels and the bias are forgotten: a filter spans all {per_group} input channels and has a bias",
     "입력 채널과 편향(bias)을 모두 빠뜨렸습니다: 필터 하나는 입력 채널 {per_group}개 전체에 걸치고 편향도 하나 있습니다")
_add("note.conv_out_as_in",
     "that counts the output channels {out} as the input channels; this layer receives {per_group}",
     "출력 채널 {out}을(를) 입력 채널로 센 값입니다. 이 층이 받는 입력 채널은 {per_group}개입니다")

# -- working of one layer (summary --explain, check) --------------------------------------------
_add("work.output_shape", "output shape {shape}", "출력 모양 {shape}")
_add("work.no_macs", "0: only convolutions and linear layers count multiply-accumulates",
     "0: 곱셈-누산(MAC)은 합성곱과 완전연결층만 셉니다")
_add("work.running_stats", "plus {count:,} running statistics (not parameters; Keras counts them as non-trainable)",
     "그 밖에 이동 통계 {count:,}개 (파라미터가 아님; Keras는 학습되지 않는(non-trainable) 값으로 셈)")
_add("work.global", "global: {note}", "전역: 모든 위치를 섞습니다 ({note})")
_add("work.undefined", "undefined: {note}", "정의되지 않음 ({note})")
_add("work.field",
     "r = {size}, stride S = {stride}, padding P = {padding} (r_out = r_in + (effective kernel - 1) x S_in, S_out = S_in x stride)",
     "r = {size}, 스트라이드 S = {stride}, 패딩 P = {padding} (r_out = r_in + (유효 커널 - 1) x S_in, S_out = S_in x 스트라이드)")
_add("work.header", "{name} ({type}), input {inputs}", "{name} ({type}), 입력 {inputs}")
_add("work.title.output", "output", "출력")
_add("work.title.params", "params", "파라미터")
_add("work.title.macs", "MACs", "MACs")
_add("work.title.field", "receptive field", "수용장")
_add("work.no_layer", "no layer named '{name}'{hint}; 'cnncalc summary' lists them",
     "'{name}'이라는 층이 없습니다{hint}. 'cnncalc summary'가 층 이름을 보여 줍니다")
_add("work.no_params", "no learnable parameters: 0", "학습되는 파라미터 없음: 0")
_add("work.weights", "{parts}; total {total:,}", "{parts}; 합계 {total:,}")
_add("work.weight", "{name} {shape} = {count:,}", "{name} {shape} = {count:,}")
_add("work.conv.params", "(kernel {size} x in/groups {per_group}{bias}) x out {out} = {total:,}",
     "(커널 {size} x 입력 채널/그룹 {per_group}{bias}) x 필터 {out} = {total:,}")
_add("work.conv.macs", "output positions {positions:,} x out {out} x (kernel {size} x in/groups {per_group}) = {macs:,}",
     "출력 위치 {positions:,} x 필터 {out} x (커널 {size} x 입력 채널/그룹 {per_group}) = {macs:,}")
_add("work.transposed.params", "kernel {size} x out/groups {second} x in {first}{biases} = {total:,}",
     "커널 {size} x 출력 채널/그룹 {second} x 입력 채널 {first}{biases} = {total:,}")
_add("work.transposed.macs", "input elements x out/groups {second} x kernel {size} = {macs:,}",
     "입력 원소 수 x 출력 채널/그룹 {second} x 커널 {size} = {macs:,}")
_add("work.dense.params", "(in {features}{bias}) x out {out} = {total:,}", "(입력 {features}{bias}) x 출력 {out} = {total:,}")
_add("work.dense.macs", "in {features} x out {out} = {macs:,}", "입력 {features} x 출력 {out} = {macs:,}")
_add("work.dense.macs_positions", "in {features} x out {out} x {positions:,} positions = {macs:,}",
     "입력 {features} x 출력 {out} x 위치 {positions:,}개 = {macs:,}")

# -- the loss (run --target) --------------------------------------------------------------------
_add("loss.header", "cross-entropy for target class {target} (counting from 0), float64:",
     "정답 클래스 {target}(0부터 셈)에 대한 교차 엔트로피(Cross Entropy), float64:")
_add("loss.scores", "scores (logits) z = {scores}", "점수(logit) z = {scores}")
_add("loss.softmax", "softmax p_i = exp(z_i) / sum_j exp(z_j)", "Softmax p_i = exp(z_i) / sum_j exp(z_j)")
_add("loss.probabilities", "p = {probabilities}", "p = {probabilities}")
_add("loss.already", "the output is already a probability distribution (it sums to 1): p = {probabilities}",
     "출력이 이미 확률 분포입니다(합이 1): p = {probabilities}")
_add("loss.value", "loss = -ln p[{target}] = -ln {p} = {loss}", "손실 = -ln p[{target}] = -ln {p} = {loss}")
_add("loss.stable", "computed as logsumexp(z) - z[{target}] = {loss}", "logsumexp(z) - z[{target}] = {loss}(으)로 계산")
_add("loss.sample", "sample {index}: ", "샘플 {index}: ")
_add("loss.mean", "mean over the batch of {batch}: {loss}", "배치 {batch}개의 평균: {loss}")
_add("loss.bad_target", "--target {target} is not a class: the output has {classes} classes, counted from 0 (0 to {last})",
     "--target {target}은(는) 클래스가 아닙니다. 출력의 클래스는 0부터 {last}까지 {classes}개입니다")
_add("loss.not_vector", "--target needs an output of class scores, one vector per sample; the output is {shape}",
     "--target에는 샘플마다 클래스 점수 벡터 하나가 나오는 출력이 필요합니다. 출력 모양: {shape}")
_add("loss.one_output", "--target needs a network with one output; this one has {count}",
     "--target은 출력이 하나인 네트워크에만 씁니다. 이 네트워크의 출력은 {count}개입니다")

# -- YAML mistakes, translated into what to fix -------------------------------------------------
_add("yaml.tab", "a tab indents this line; YAML indents with spaces only: replace the tab with spaces",
     "이 줄은 탭으로 들여쓰여 있습니다. YAML은 공백으로만 들여씁니다: 탭을 공백으로 바꾸세요")
_add("yaml.tuple",
     "'{text}' is a Python tuple, which YAML reads as text; write a list: {key}: [{items}]",
     "'{text}'은(는) 파이썬 튜플이라 YAML은 글자로 읽습니다. 리스트로 쓰세요: {key}: [{items}]")
_add("yaml.indent_key",
     "'{key}:' is indented {got} spaces, but the keys of a layer line up with its type, {want_spaces} spaces in: indent it by {want_spaces} spaces",
     "'{key}:'이(가) {got}칸 들여쓰여 있습니다. 층의 키는 층 종류와 같은 {want_spaces}칸에 맞춰야 합니다: {want_spaces}칸 들여쓰세요")
_add("yaml.indent_layer",
     "'{key}:' is not indented under its layer: indent it by {want_spaces} spaces, under the layer's type",
     "'{key}:'이(가) 층 아래로 들여쓰여 있지 않습니다: 층 종류와 같은 {want_spaces}칸으로 들여쓰세요")
_add("yaml.malformed", "malformed YAML: {problem}{hint}", "YAML 형식 오류: {problem}{hint}")
_add("yaml.more", "{count} more mistakes found in the same run (shown below)", "같은 실행에서 찾은 실수가 {count}개 더 있습니다 (아래)")

# -- layout and wiring hints (warnings) ---------------------------------------------------------
_add("hint.channels_last",
     "the input {shape} looks like (H, W, C) with C = {channels}, but the file is channels_first, so {first} is "
     "read as the channel count; write 'layout: channels_last' or the input as {reordered}",
     "입력 {shape}은(는) C = {channels}인 (H, W, C)처럼 보이지만 이 파일은 channels_first라서 {first}을(를) 채널 수로 "
     "읽습니다. 'layout: channels_last'를 쓰거나 입력을 {reordered}(으)로 쓰세요")
_add("hint.channels_first",
     "the input {shape} looks like (C, H, W) with C = {channels}, but the file says channels_last, so {last} is "
     "read as the channel count; remove 'layout: channels_last' or write the input as {reordered}",
     "입력 {shape}은(는) C = {channels}인 (C, H, W)처럼 보이지만 이 파일은 channels_last라서 {last}을(를) 채널 수로 "
     "읽습니다. 'layout: channels_last'를 지우거나 입력을 {reordered}(으)로 쓰세요")
_add("hint.flatten",
     "{layer}: a dense layer on the spatial tensor {shape} acts on the last axis only, at every position; "
     "put a 'flatten' before it to connect every value",
     "{layer}: 공간 텐서 {shape}에 놓인 완전연결층은 위치마다 마지막 축에만 작용합니다. "
     "모든 값을 연결하려면 그 앞에 'flatten'을 두세요")
