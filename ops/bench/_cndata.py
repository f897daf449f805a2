"""Realistic, varied data about Chinese small and medium enterprises for the benchmarks.

Deterministic for a given ``random.Random``: the same seed gives the same customers. Every value
passes the API's and the aggregate's validation (phone and e-mail formats, lengths, money), and
industry, source, level, province and city are items of the default reference lists.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

# province -> [(city, short name, area code)]
REGIONS: dict[str, list[tuple[str, str, str]]] = {
    "浙江省": [("杭州市", "杭州", "0571"), ("宁波市", "宁波", "0574"), ("温州市", "温州", "0577"),
              ("绍兴市", "绍兴", "0575"), ("台州市", "台州", "0576"), ("金华市", "金华", "0579"),
              ("嘉兴市", "嘉兴", "0573"), ("湖州市", "湖州", "0572")],
    "江苏省": [("南京市", "南京", "025"), ("苏州市", "苏州", "0512"), ("无锡市", "无锡", "0510"),
              ("常州市", "常州", "0519"), ("南通市", "南通", "0513")],
    "广东省": [("广州市", "广州", "020"), ("深圳市", "深圳", "0755"), ("东莞市", "东莞", "0769"),
              ("佛山市", "佛山", "0757"), ("中山市", "中山", "0760")],
    "山东省": [("济南市", "济南", "0531"), ("青岛市", "青岛", "0532"), ("烟台市", "烟台", "0535"),
              ("潍坊市", "潍坊", "0536")],
    "福建省": [("福州市", "福州", "0591"), ("厦门市", "厦门", "0592"), ("泉州市", "泉州", "0595")],
    "上海市": [("上海市", "上海", "021")],
    "北京市": [("北京市", "北京", "010")],
    "天津市": [("天津市", "天津", "022")],
    "四川省": [("成都市", "成都", "028"), ("绵阳市", "绵阳", "0816")],
    "湖北省": [("武汉市", "武汉", "027"), ("宜昌市", "宜昌", "0717")],
    "河南省": [("郑州市", "郑州", "0371"), ("洛阳市", "洛阳", "0379")],
    "安徽省": [("合肥市", "合肥", "0551"), ("芜湖市", "芜湖", "0553")],
    "湖南省": [("长沙市", "长沙", "0731"), ("株洲市", "株洲", "0731")],
}  # fmt: skip
PROVINCES = list(REGIONS)
PROVINCE_WEIGHTS = [22, 16, 16, 8, 7, 8, 5, 3, 4, 4, 3, 2, 2]

SYLLABLES = [
    ("恒", "heng"), ("泰", "tai"), ("华", "hua"), ("鑫", "xin"), ("源", "yuan"), ("达", "da"),
    ("兴", "xing"), ("盛", "sheng"), ("隆", "long"), ("宏", "hong"), ("利", "li"), ("丰", "feng"),
    ("信", "xin"), ("诚", "cheng"), ("德", "de"), ("安", "an"), ("康", "kang"), ("瑞", "rui"),
    ("祥", "xiang"), ("永", "yong"), ("金", "jin"), ("宇", "yu"), ("天", "tian"), ("海", "hai"),
    ("新", "xin"), ("博", "bo"), ("凯", "kai"), ("辉", "hui"), ("锦", "jin"), ("荣", "rong"),
    ("佳", "jia"), ("正", "zheng"), ("合", "he"), ("顺", "shun"), ("慈", "ci"), ("穗", "sui"),
    ("润", "run"), ("立", "li"), ("远", "yuan"), ("明", "ming"), ("通", "tong"), ("嘉", "jia"),
]  # fmt: skip

# industry (the default 行业 reference list) -> words that go into a company name
INDUSTRIES: dict[str, list[str]] = {
    "纺织服装": ["纺织", "服饰", "针织", "制衣"],
    "机械制造": ["机械", "精密机械", "机电", "重工"],
    "电子电器": ["电子", "电器", "光电", "微电子"],
    "外贸": ["贸易", "进出口", "国际贸易"],
    "食品饮料": ["食品", "饮品", "农产品"],
    "化工": ["化工", "新材料", "涂料"],
    "物流": ["物流", "供应链", "货运代理"],
    "软件信息": ["科技", "信息技术", "软件"],
    "建筑建材": ["建材", "装饰材料", "陶瓷", "建设工程"],
    "医药": ["医药", "生物科技", "医疗器械"],
    "汽车配件": ["汽配", "汽车零部件"],
    "家居用品": ["家具", "家居用品"],
    "教育培训": ["教育咨询", "职业培训"],
    "其他": ["五金", "塑胶", "包装", "金属制品"],
}
SUFFIXES = ["有限公司", "有限公司", "有限公司", "股份有限公司", "实业有限公司", "集团有限公司"]
SOURCES = ["展会", "转介绍", "网络推广", "电话营销", "老客户推荐", "广告", "其他"]  # the default 客户来源 list
LEVELS = ["A", "A", "B", "B", "B", "C", "C", "D"]  # keys of the default 客户等级 list
TAGS = ["外贸", "重点客户", "长期合作", "价格敏感", "新客户", "需回访", "大客户", "账期客户", "国企",
        "民营", "上市公司", "年框协议", "样品阶段", "华东区"]  # fmt: skip
ROADS = ["人民路", "解放路", "中山路", "建设路", "学府路", "科技路", "工业园路", "滨江大道", "创业大道",
         "青少年宫路", "新华路", "长江路", "迎宾大道", "环城北路"]  # fmt: skip
AREAS = ["经济技术开发区", "高新区", "工业园区", "保税区", "城东新区", "滨海新区", ""]
NOTES = [
    "年采购量稳定，主要产品出口欧洲。",
    "客户对价格敏感，需要提供阶梯报价。",
    "老板重视交期，建议优先排产。",
    "去年第四季度起开始小批量试单，反馈良好。",
    "付款及时，可考虑提高授信额度。",
    "竞争对手报价偏低，需要突出售后服务。",
    "计划明年扩建厂房，有新增设备需求。",
    "关注环保认证，需提供相关检测报告。",
]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁沈")
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
         "秀英", "华", "慧", "建国", "志强", "海燕", "晓东", "文静", "国平", "丽华", "子涵", "浩然", "雨欣"]  # fmt: skip
TITLES = ["总经理", "采购经理", "财务总监", "技术主管", "销售经理", "行政主管", "董事长", "采购专员", "副总经理"]
DEPARTMENTS = ["采购部", "财务部", "技术部", "总经办", "销售部", "行政部", "生产部"]
HOBBIES = ["钓鱼", "高尔夫", "茶道", "登山", "书法", "摄影", "跑步", "羽毛球", "收藏紫砂壶", "自驾游"]
ACTIVITY_KINDS = ["visit", "call", "call", "email", "meeting", "other"]
SUMMARIES = [
    "拜访采购部，确认明年框架协议需求",
    "电话沟通样品测试结果，客户基本满意",
    "发送最新报价单及产品目录",
    "参加客户年度供应商大会",
    "讨论付款账期调整，客户希望延长至 90 天",
    "技术交流会，介绍新产品的性能参数",
    "处理上批货物的质量投诉，约定补发",
    "陪同客户参观工厂生产线",
    "年底对账，确认应收款项",
]
NEXT_STEPS = ["下周发送报价单", "安排技术人员上门", "跟进合同签订", "寄送样品", "月底前回访", None, None]
KINDS = ["customer"] * 10 + ["potential"] * 5 + ["target"] * 3 + ["partner", "competitor"]


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def mobile(rng: random.Random) -> str:
    return rng.choice(["138", "139", "135", "136", "150", "158", "186", "189", "177"]) + _digits(rng, 8)


def company(rng: random.Random) -> dict[str, Any]:
    """A customer profile: name, kind and the usual profile fields (a random subset filled in)."""
    province = rng.choices(PROVINCES, PROVINCE_WEIGHTS)[0]
    city, short, area = rng.choice(REGIONS[province])
    industry = rng.choice(list(INDUSTRIES))
    (c1, p1), (c2, p2) = rng.sample(SYLLABLES, 2)
    name = f"{short}{c1}{c2}{rng.choice(INDUSTRIES[industry])}{rng.choice(SUFFIXES)}"
    slug = f"{p1}{p2}{rng.randint(1, 999)}"
    local_digits = 8 if len(area) == 3 else rng.choice((7, 8))
    profile: dict[str, Any] = {
        "name": name,
        "kind": rng.choice(KINDS),
        "industry": industry,
        "country": "中国",
        "province": province,
        "city": city,
        "phone": f"{area}-{_digits(rng, local_digits)}",
    }
    optional: dict[str, Any] = {
        "source": rng.choice(SOURCES),
        "level": rng.choice(LEVELS),
        "address": f"{city}{rng.choice(AREAS)}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
        "fax": f"{area}-{_digits(rng, local_digits)}",
        "email": f"{rng.choice(['sales', 'info', 'purchase', 'service'])}@{slug}.example.cn",
        "website": f"www.{slug}.example.cn",
        "notes": rng.choice(NOTES),
        "annual_revenue": f"{rng.randint(5, 50_000) * 10_000}.00",
        "credit_limit": f"{rng.randint(1, 200) * 5_000}.00",
        "employees": rng.choice([8, 15, 30, 45, 80, 120, 260, 500, 1200]),
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
    }
    for key, value in optional.items():
        if rng.random() < 0.7:
            profile[key] = value
    return profile


def contact(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {"name": rng.choice(SURNAMES) + rng.choice(GIVEN), "mobile": mobile(rng)}
    if rng.random() < 0.8:
        values["title"] = rng.choice(TITLES)
    if rng.random() < 0.6:
        values["department"] = rng.choice(DEPARTMENTS)
    if rng.random() < 0.5:
        values["email"] = f"{rng.choice(['wang', 'li', 'zhang', 'liu', 'chen', 'yang'])}{rng.randint(1, 99)}@example.cn"
    if rng.random() < 0.3:
        values["hobbies"] = rng.choice(HOBBIES)
    if rng.random() < 0.4:
        values["birthday"] = date(rng.randint(1960, 1998), rng.randint(1, 12), rng.randint(1, 28))
    return values


def activity(rng: random.Random, now: datetime) -> dict[str, Any]:
    shanghai = timezone(timedelta(hours=8))
    occurred = (now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 600))).astimezone(shanghai)
    return {
        "kind": rng.choice(ACTIVITY_KINDS),
        "occurred_at": occurred,
        "summary": rng.choice(SUMMARIES),
        "next_step": rng.choice(NEXT_STEPS),
    }


def profile_change(rng: random.Random) -> dict[str, Any]:
    """A realistic edit of a customer's profile (one or two fields)."""
    choices: list[dict[str, Any]] = [
        {"level": rng.choice(LEVELS)},
        {"credit_limit": Decimal(rng.randint(1, 200) * 5_000)},
        {"notes": rng.choice(NOTES)},
        {"tags": rng.sample(TAGS, rng.randint(1, 4))},
        {"employees": rng.randint(5, 2000)},
        {"source": rng.choice(SOURCES), "level": rng.choice(LEVELS)},
    ]
    return rng.choice(choices)
