"""The shipped stop words (per language) and synonym map of feedback themes.

Stop words are words that say nothing about a topic (pronouns, particles, auxiliaries, vague
praise or blame). The lists are deliberately short: an organisation adds its own through the
themes configuration file (``CLIENTLOOP_THEMES_FILE``, see docs/survey.md). One-character
Chinese tokens are dropped anyway, so only longer words are listed for zh-CN.

The synonym map merges terms into one theme: ``{theme: [term, …]}``.
"""
from __future__ import annotations

STOP_WORDS: dict[str, frozenset[str]] = {
    "zh-CN": frozenset("""
        我们 你们 他们 她们 它们 自己 这个 那个 这些 那些 这样 那样 这里 那里 什么 怎么 为什么
        因为 所以 但是 可是 而且 并且 或者 如果 虽然 然后 还是 就是 只是 也是 都是 不是 没有
        已经 一直 一些 一点 一下 一次 一个 有点 有些 非常 比较 特别 十分 真的 确实 其实 总体
        整体 希望 觉得 感觉 认为 可以 能够 需要 应该 还有 以及 对于 关于 之后 之前 时候 现在
        目前 今天 问题 方面 情况 东西 满意 不错 很好 挺好 还行 一般 谢谢 感谢 继续 加油 没什么
        暂无 好的 我司 贵司 你们的 我们的
    """.split()),
    "en": frozenset("""
        a about above after again all also am an and any are as at be because been before being
        but by can could did do does doing done don't each even ever few for from get got had has
        have having he her here hers him his how i i'm if in into is it it's its just me more
        most much my no nor not now of off on once only or other our ours out over own really
        same she should so some such than that that's the their theirs them then there these
        they this those through to too under until up very was we were what when where which
        while who whom why will with would you your yours
        ok okay thanks thank please good great nice bad fine well overall everything nothing
        lot lots bit thing things still always never
    """.split()),
}

SYNONYMS: dict[str, list[str]] = {
    "物流": ["快递", "发货", "配送", "送货"],
    "价格": ["价钱", "收费", "费用"],
    "客服": ["售后", "客户服务"],
    "delivery": ["shipping", "shipment", "courier"],
    "price": ["prices", "pricing", "cost", "costs", "fee", "fees"],
    "support": ["helpdesk", "help-desk"],
}
