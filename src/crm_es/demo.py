"""Demo data: a sales department with its teams, a sales manager, salespeople, and the Chinese
SME customers they look after, loaded through the application's commands (``crm-es seed-demo``).

Everything is planned first from ``random.Random(seed)``, so one seed always gives the same
content (the ids differ from run to run, and the activity dates follow the day of seeding: they
lie within the last 180 days). The plan is then carried out one command at a time: the
department 华东销售部 with its teams (宁波, 杭州, 上海) and its manager 赵敏 (``zhaomin``, role
sales_manager: she sees every team's customers), a user per salesperson spread over the teams
(role salesperson: each sees their own customers; existing users are reused), and per customer
its registration, its contacts and its activities, all under the actor ``process:seed-demo`` on
behalf of the customer's owner. Every user's password is ``demo-password``. Every command
carries an idempotency key (the customers' made of the size, the seed and their place in the
plan), so seeding again writes nothing new.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import permutations
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID, uuid4

from crm_es.aggregates.role import Role
from crm_es.app import CRM, Context, Idempotency

if TYPE_CHECKING:
    from crm_es.runtime import Runtime

T = TypeVar("T")

DEFAULT_SEED = 20261124
ACTOR = "process:seed-demo"
PASSWORD = "demo-password"
ACTIVITY_WINDOW_DAYS = 180
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""China keeps UTC+8 all year round."""


@dataclass(frozen=True)
class Size:
    customers: int
    salespeople: int


SIZES = {"small": Size(customers=60, salespeople=4), "large": Size(customers=3000, salespeople=8)}

# Salespeople: (username, display name).
SALES_DEPARTMENT = "华东销售部"
SALES_TEAMS = ("宁波销售组", "杭州销售组", "上海销售组")
"""The demo company's sales department and its teams; salespeople are spread over the teams."""
MANAGER = ("zhaomin", "赵敏")
"""The sales manager: heads the sales department and sees every team's customers."""

SALESPEOPLE = (
    ("wangli", "王丽"),
    ("chenjie", "陈杰"),
    ("zhangmin", "张敏"),
    ("liuyang", "刘洋"),
    ("zhouting", "周婷"),
    ("xuhao", "徐浩"),
    ("sunqiang", "孙强"),
    ("huyan", "胡燕"),
)


# Places ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    short: str  # as it starts a company name
    province: str
    city: str
    area_code: str
    landline_leads: str  # digits local landline numbers start with
    districts: Mapping[str, tuple[str, ...]]  # district: roads in it
    industries: Mapping[str, int]  # industry: weight
    weight: int  # share of the customers


CITIES = (
    City(
        short="宁波",
        province="浙江省",
        city="宁波市",
        area_code="0574",
        landline_leads="826",
        districts={
            "海曙区": ("中山西路", "解放南路", "望春路", "环城西路"),
            "江北区": ("大庆南路", "人民路", "康庄南路"),
            "鄞州区": ("天童南路", "四明中路", "泰康中路", "首南西路"),
            "北仑区": ("明州路", "新大路", "太河路"),
            "镇海区": ("庄市大道", "骆兴路"),
            "慈溪市": ("北三环东路", "新城大道"),
            "余姚市": ("阳明西路", "谭家岭西路"),
        },
        industries={"外贸": 25, "纺织服装": 20, "机械制造": 20, "电子电器": 15, "化工": 8,
                    "食品饮料": 6, "物流": 4, "软件信息": 2},
        weight=45,
    ),
    City(
        short="杭州",
        province="浙江省",
        city="杭州市",
        area_code="0571",
        landline_leads="852",
        districts={
            "西湖区": ("文三路", "天目山路", "古墩路"),
            "滨江区": ("江南大道", "滨盛路", "江陵路"),
            "拱墅区": ("莫干山路", "湖墅南路"),
            "余杭区": ("文一西路", "五常大道"),
            "萧山区": ("市心中路", "金城路"),
            "钱塘区": ("下沙路", "学林街"),
        },
        industries={"软件信息": 25, "纺织服装": 20, "电子电器": 15, "外贸": 12, "机械制造": 10,
                    "食品饮料": 8, "物流": 6, "化工": 4},
        weight=30,
    ),
    City(
        short="上海",
        province="上海市",
        city="上海市",
        area_code="021",
        landline_leads="563",
        districts={
            "浦东新区": ("张江路", "世纪大道", "碧波路"),
            "徐汇区": ("漕溪北路", "宜山路"),
            "闵行区": ("虹梅路", "沪闵路"),
            "静安区": ("南京西路", "江场西路"),
            "长宁区": ("天山路", "虹桥路"),
            "嘉定区": ("曹安公路", "博园路"),
            "松江区": ("沪松公路", "九亭中心路"),
        },
        industries={"软件信息": 22, "物流": 18, "外贸": 18, "电子电器": 12, "食品饮料": 10,
                    "化工": 8, "机械制造": 7, "纺织服装": 5},
        weight=25,
    ),
)


# Companies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Industry:
    name_words: tuple[str, ...]  # what follows the brand in a company name
    products: tuple[str, ...]  # what the business talks with such a company about


INDUSTRIES = {
    "纺织服装": Industry(("服饰", "纺织", "针织", "制衣"), ("针织面料", "衬衫", "羽绒服", "工装", "童装")),
    "机械制造": Industry(("机械", "精工", "机电", "液压设备"), ("数控机床", "液压缸", "注塑机", "轴承", "紧固件")),
    "电子电器": Industry(("电子", "电器", "光电", "智能科技"), ("小家电", "电源适配器", "传感器", "LED灯具", "线束")),
    "外贸": Industry(("贸业", "进出口", "国际贸易", "商贸"), ("日用百货", "五金工具", "家居用品", "文具")),
    "食品饮料": Industry(("食品", "饮品", "农产品"), ("冷冻水产", "调味品", "包装饮用水", "休闲食品", "年糕")),
    "化工": Industry(("化工", "新材料", "塑业", "涂料"), ("塑料粒子", "工业涂料", "胶粘剂", "溶剂")),
    "物流": Industry(("物流", "供应链管理", "国际货运代理"), ("仓储服务", "集装箱运输", "冷链配送", "报关代理")),
    "软件信息": Industry(("软件", "信息技术", "网络科技", "数据科技"), ("ERP系统", "小程序开发", "云服务器", "数据中台")),
}

# Brand characters with their pinyin, which names the company's web domain. No two share a
# syllable, so every two-character brand has a domain of its own.
BRAND_CHARACTERS = (
    ("慈", "ci"), ("穗", "sui"), ("恒", "heng"), ("泰", "tai"), ("华", "hua"), ("盛", "sheng"),
    ("鑫", "xin"), ("源", "yuan"), ("宏", "hong"), ("达", "da"), ("诚", "cheng"), ("博", "bo"),
    ("瑞", "rui"), ("锦", "jin"), ("汇", "hui"), ("康", "kang"), ("福", "fu"), ("丰", "feng"),
    ("隆", "long"), ("昌", "chang"), ("宇", "yu"), ("海", "hai"), ("天", "tian"), ("明", "ming"),
    ("联", "lian"), ("通", "tong"), ("利", "li"), ("安", "an"), ("永", "yong"), ("佳", "jia"),
    ("创", "chuang"), ("科", "ke"), ("德", "de"), ("亚", "ya"), ("凯", "kai"), ("腾", "teng"),
    ("飞", "fei"), ("豪", "hao"), ("正", "zheng"), ("润", "run"), ("泽", "ze"), ("顺", "shun"),
    ("美", "mei"), ("耀", "yao"), ("毅", "yi"), ("晨", "chen"), ("东", "dong"), ("方", "fang"),
    ("江", "jiang"), ("帆", "fan"), ("舟", "zhou"), ("浙", "zhe"), ("银", "yin"), ("旺", "wang"),
    ("祥", "xiang"), ("晶", "jing"), ("卓", "zhuo"), ("越", "yue"), ("奥", "ao"), ("宝", "bao"),
    ("伟", "wei"), ("骏", "jun"), ("启", "qi"), ("融", "rong"), ("尚", "shang"), ("优", "you"),
    ("捷", "jie"), ("森", "sen"), ("林", "lin"), ("中", "zhong"), ("万", "wan"), ("百", "bai"),
    ("世", "shi"), ("光", "guang"), ("欧", "ou"), ("格", "ge"), ("曼", "man"), ("迪", "di"),
    ("朗", "lang"), ("鼎", "ding"),
)
BRANDS = tuple(permutations(BRAND_CHARACTERS, 2))  # every ordered pair of two different characters

KIND_WEIGHTS = {"customer": 45, "potential": 25, "target": 15, "partner": 10, "competitor": 5}
LEVEL_WEIGHTS = {"A": 20, "B": 45, "C": 35}
SOURCE_WEIGHTS = {"展会": 25, "转介绍": 20, "网络推广": 20, "电话营销": 15, "老客户推荐": 20}
EMPLOYEES_BY_LEVEL = {"A": (200, 1500), "B": (50, 400), "C": (8, 120), None: (50, 800)}
CREDIT_LIMIT_BY_LEVEL = {"A": (50, 300), "B": (10, 80), "C": (2, 20)}  # in units of 10,000 yuan
COMPANY_MAILBOXES = ("info", "sales", "contact", "office")

TAGS_BY_KIND = {
    "customer": ("重点客户", "长期合作", "年度框架协议", "月结30天", "需开增值税专票", "价格敏感", "出口业务"),
    "potential": ("样品阶段", "价格敏感", "决策周期长", "有明确需求", "比价中"),
    "target": ("行业龙头", "专精特新", "高新技术企业", "规模以上"),
    "partner": ("渠道伙伴", "互相推荐", "联合投标"),
    "competitor": ("直接竞争", "价格战", "同区域"),
}
NOTES_BY_KIND = {
    "customer": "主要采购{product}和{other}，付款一般在月结30天内。",
    "potential": "已有采购意向，正在比较几家供应商的{product}报价。",
    "target": "行业内规模较大，计划年内重点开发，先从{product}切入。",
    "partner": "长期合作伙伴，可互相推荐{product}方面的客户。",
    "competitor": "同类{product}供应商，报价通常比我们低5%左右。",
}


# People ----------------------------------------------------------------------------------------

SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"),
    ("胡", "hu"), ("朱", "zhu"), ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo"),
    ("马", "ma"), ("罗", "luo"), ("梁", "liang"), ("宋", "song"), ("郑", "zheng"), ("谢", "xie"),
    ("韩", "han"), ("唐", "tang"), ("冯", "feng"), ("董", "dong"), ("沈", "shen"), ("蒋", "jiang"),
    ("应", "ying"), ("俞", "yu"), ("邵", "shao"), ("金", "jin"), ("叶", "ye"), ("鲍", "bao"),
)
GIVEN_NAMES = (
    ("伟", "wei"), ("芳", "fang"), ("敏", "min"), ("静", "jing"), ("磊", "lei"), ("军", "jun"),
    ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("涛", "tao"), ("超", "chao"),
    ("建国", "jianguo"), ("建华", "jianhua"), ("晓燕", "xiaoyan"), ("晓东", "xiaodong"),
    ("海峰", "haifeng"), ("志强", "zhiqiang"), ("丽娟", "lijuan"), ("秀英", "xiuying"),
    ("俊杰", "junjie"), ("文婷", "wenting"), ("浩然", "haoran"), ("佳怡", "jiayi"),
    ("欣怡", "xinyi"), ("雪梅", "xuemei"), ("鹏飞", "pengfei"), ("国平", "guoping"),
    ("立新", "lixin"), ("红霞", "hongxia"), ("振华", "zhenhua"), ("亚萍", "yaping"),
    ("宇航", "yuhang"), ("琳琳", "linlin"), ("天宇", "tianyu"), ("雅琴", "yaqin"),
)
# (title, department); the first contact of a company is one of the decision makers.
DECISION_MAKERS = (("总经理", "总经办"), ("副总经理", "总经办"), ("采购经理", "采购部"))
OTHER_TITLES = (
    ("采购专员", "采购部"), ("财务主管", "财务部"), ("技术总监", "技术部"), ("生产经理", "生产部"),
    ("销售总监", "销售部"), ("外贸业务员", "外贸部"), ("行政主管", "行政部"), ("质量经理", "品质部"),
    ("仓储主管", "物流部"),
)
CONTACT_COUNT_WEIGHTS = {  # weights of 1, 2, 3 and 4 contacts
    "customer": (20, 40, 25, 15),
    "potential": (40, 40, 15, 5),
    "target": (60, 30, 10, 0),
    "partner": (30, 40, 20, 10),
    "competitor": (80, 20, 0, 0),
}
HOBBIES = ("钓鱼", "羽毛球", "登山", "喝茶", "高尔夫", "摄影", "跑步", "书法", "乒乓球", "自驾游")
MOBILE_PREFIXES = (
    "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156", "157",
    "158", "159", "166", "173", "177", "180", "181", "182", "183", "186", "187", "188", "189",
    "198", "199",
)


# Activities ------------------------------------------------------------------------------------

MAX_ACTIVITIES_BY_KIND = {"customer": 6, "potential": 4, "partner": 4, "target": 2, "competitor": 0}
ACTIVITY_KIND_WEIGHTS = {"call": 35, "visit": 25, "email": 20, "meeting": 20}
CONTACT_LINK_CHANCE = 0.7
UNNAMED_CONTACT = "客户负责人"
SUMMARIES = {  # {who}: the contact, {product}: one of the industry's products
    "visit": (
        "上门拜访{who}，参观了生产车间，了解{product}的月用量和现有供应商情况",
        "拜访{who}，当面递交{product}年度报价单并讲解价格构成",
        "陪同技术同事到现场查看{product}使用情况，{who}提出了三项改进需求",
        "拜访{who}，沟通下季度{product}备货计划",
    ),
    "call": (
        "电话跟进{who}，确认{product}样品已收到，整体反馈满意",
        "致电{who}询问{product}报价的审批进度，对方表示本周内答复",
        "电话回访{who}，了解上批{product}到货后的使用情况",
        "与{who}电话沟通{product}货款账期，对方希望从30天延长到60天",
    ),
    "email": (
        "给{who}发送{product}产品目录和最新价格表",
        "邮件回复{who}关于{product}交期的询问，承诺四周内交货",
        "把{product}质检报告和合格证扫描件发给{who}",
        "把{product}年度合作协议草案发给{who}审阅",
    ),
    "meeting": (
        "与{who}开会讨论{product}技术方案，对方提出定制包装要求",
        "在公司会议室接待{who}一行，介绍新产线和{product}质量控制流程",
        "参加{who}组织的供应商大会，了解明年{product}采购计划",
        "与{who}视频会议，确认{product}首批订单的细节",
    ),
}
NEXT_STEPS = (
    "一周内寄送样品",
    "月底前提交正式报价",
    "安排技术人员上门调试",
    "等待对方内部审批结果",
    "邀请参加下月展会并安排参观工厂",
    "跟进上批货款回收",
    "准备年度框架合同草案",
    "下周再电话确认需求",
)
NEXT_STEP_CHANCE = 0.75


# The plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedActivity:
    kind: str
    occurred_at: datetime
    summary: str
    next_step: str | None
    contact: int | None  # index into the customer's contacts


@dataclass(frozen=True)
class PlannedCustomer:
    owner: str  # the salesperson's username
    name: str
    kind: str
    profile: dict[str, Any]
    contacts: tuple[dict[str, Any], ...]
    activities: tuple[PlannedActivity, ...]


@dataclass(frozen=True)
class Plan:
    salespeople: tuple[tuple[str, str], ...]
    customers: tuple[PlannedCustomer, ...]

    def summary(self) -> dict[str, int]:
        return {
            "departments": 1 + len(SALES_TEAMS),
            "users": len(self.salespeople) + 1,
            "customers": len(self.customers),
            "contacts": sum(len(c.contacts) for c in self.customers),
            "activities": sum(len(c.activities) for c in self.customers),
        }

    @property
    def commands(self) -> int:
        return sum(self.summary().values())


def make_plan(size: str = "small", *, seed: int = DEFAULT_SEED, today: date) -> Plan:
    """The demo data for ``size``, the same for the same seed; activities end before ``today``."""
    try:
        dimensions = SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}") from None
    rng = random.Random(seed)
    salespeople = SALESPEOPLE[: dimensions.salespeople]
    customers = []
    for first, second in rng.sample(BRANDS, dimensions.customers):
        owner, _ = rng.choice(salespeople)
        brand = (first[0] + second[0], first[1] + second[1])
        customers.append(_plan_customer(rng, brand, owner=owner, today=today))
    return Plan(salespeople, tuple(customers))


def _weighted(rng: random.Random, weights: Mapping[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def _plan_customer(rng: random.Random, brand: tuple[str, str], *, owner: str, today: date) -> PlannedCustomer:
    kind = _weighted(rng, KIND_WEIGHTS)
    city = rng.choices(CITIES, weights=[c.weight for c in CITIES])[0]
    industry_name = _weighted(rng, city.industries)
    industry = INDUSTRIES[industry_name]
    brand_name, brand_pinyin = brand
    name = f"{city.short}{brand_name}{rng.choice(industry.name_words)}有限公司"
    domain = f"{brand_pinyin}.example.cn"
    profile = _company_profile(rng, kind, city, industry_name, domain)
    contacts = _plan_contacts(rng, kind, domain, company_phone=profile["phone"])
    activities = _plan_activities(rng, kind, contacts, industry.products, today)
    return PlannedCustomer(owner, name, kind, profile, contacts, activities)


def _company_profile(rng: random.Random, kind: str, city: City, industry: str, domain: str) -> dict[str, Any]:
    level = None if kind == "competitor" else _weighted(rng, LEVEL_WEIGHTS)
    employees = rng.randint(*EMPLOYEES_BY_LEVEL[level])
    district = rng.choice(list(city.districts))
    products = rng.sample(INDUSTRIES[industry].products, 2)
    profile: dict[str, Any] = {
        "industry": industry,
        "source": None if kind == "competitor" else _weighted(rng, SOURCE_WEIGHTS),
        "level": level,
        "country": "中国",
        "province": city.province,
        "city": city.city,
        "address": f"{district}{rng.choice(city.districts[district])}{rng.randint(1, 999)}号",
        "phone": _landline(rng, city),
        "fax": _landline(rng, city) if _chance(rng, 0.3) else None,
        "email": f"{rng.choice(COMPANY_MAILBOXES)}@{domain}" if _chance(rng, 0.7) else None,
        "website": f"https://www.{domain}" if _chance(rng, 0.8) else None,
        "employees": employees,
        "annual_revenue": _yuan(employees * rng.randint(25, 90) * 10_000) if _chance(rng, 0.6) else None,
        "credit_limit": _credit_limit(rng, kind, level),
        "tags": rng.sample(TAGS_BY_KIND[kind], rng.randint(0, 3)),
        "notes": NOTES_BY_KIND[kind].format(product=products[0], other=products[1]) if _chance(rng, 0.5) else None,
    }
    return {field: value for field, value in profile.items() if value is not None}


def _credit_limit(rng: random.Random, kind: str, level: str | None) -> str | None:
    granted = kind in ("customer", "partner") or (kind == "potential" and _chance(rng, 0.3))
    if not granted or level is None:
        return None
    return _yuan(rng.randint(*CREDIT_LIMIT_BY_LEVEL[level]) * 10_000)


def _yuan(amount: int) -> str:
    return f"{amount}.00"


def _landline(rng: random.Random, city: City) -> str:
    return f"{city.area_code}-{rng.choice(city.landline_leads)}{rng.randint(0, 9_999_999):07d}"


def _mobile(rng: random.Random) -> str:
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"


def _plan_contacts(rng: random.Random, kind: str, domain: str, *, company_phone: str) -> tuple[dict[str, Any], ...]:
    count = rng.choices((1, 2, 3, 4), weights=CONTACT_COUNT_WEIGHTS[kind])[0]
    titles = [rng.choice(DECISION_MAKERS), *rng.sample(OTHER_TITLES, count - 1)]
    contacts: list[dict[str, Any]] = []
    taken: set[str] = set()  # pinyin names, which make the contacts' email addresses
    for title, department in titles:
        name, pinyin = _person(rng)
        while pinyin in taken:
            name, pinyin = _person(rng)
        taken.add(pinyin)
        contact: dict[str, Any] = {
            "name": name,
            "title": title,
            "department": department,
            "mobile": _mobile(rng) if _chance(rng, 0.9) else None,
            "phone": f"{company_phone} 转 {rng.randint(801, 899)}" if _chance(rng, 0.4) else None,
            "email": f"{pinyin}@{domain}" if _chance(rng, 0.6) else None,
            "birthday": _birthday(rng) if _chance(rng, 0.35) else None,
            "hobbies": "、".join(rng.sample(HOBBIES, rng.randint(1, 2))) if _chance(rng, 0.25) else None,
        }
        contacts.append({field: value for field, value in contact.items() if value is not None})
    return tuple(contacts)


def _person(rng: random.Random) -> tuple[str, str]:
    surname, surname_pinyin = rng.choice(SURNAMES)
    given, given_pinyin = rng.choice(GIVEN_NAMES)
    return surname + given, surname_pinyin + given_pinyin


def _birthday(rng: random.Random) -> date:
    return date(1962, 1, 1) + timedelta(days=rng.randint(0, 365 * 36))


def _plan_activities(
    rng: random.Random, kind: str, contacts: Sequence[dict[str, Any]], products: Sequence[str], today: date
) -> tuple[PlannedActivity, ...]:
    activities = []
    for _ in range(rng.randint(0, MAX_ACTIVITIES_BY_KIND[kind])):
        activity_kind = _weighted(rng, ACTIVITY_KIND_WEIGHTS)
        contact = rng.randrange(len(contacts)) if _chance(rng, CONTACT_LINK_CHANCE) else None
        who = UNNAMED_CONTACT if contact is None else f"{contacts[contact]['title']}{contacts[contact]['name']}"
        summary = rng.choice(SUMMARIES[activity_kind]).format(who=who, product=rng.choice(products))
        next_step = rng.choice(NEXT_STEPS) if _chance(rng, NEXT_STEP_CHANCE) else None
        activities.append(PlannedActivity(activity_kind, _working_time(rng, today), summary, next_step, contact))
    return tuple(sorted(activities, key=lambda a: a.occurred_at))


def _working_time(rng: random.Random, today: date) -> datetime:
    """A weekday working hour in China time, within the activity window before ``today``."""
    day = today - timedelta(days=rng.randint(1, ACTIVITY_WINDOW_DAYS - 3))
    if day.weekday() >= 5:  # Saturday or Sunday: the Friday before
        day -= timedelta(days=day.weekday() - 4)
    at = time(rng.randint(9, 17), rng.choice((0, 10, 15, 20, 30, 40, 45, 50)))
    return datetime.combine(day, at, tzinfo=CHINA_TIME)


# Loading ---------------------------------------------------------------------------------------


def seed(
    runtime: Runtime,
    *,
    size: str = "small",
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Load the demo data of ``size`` through the application's commands.

    ``progress(done, total)`` is called as the commands complete. Returns how many departments,
    users (the sales manager and the salespeople, created or reused), customers, contacts and
    activities the data holds."""
    plan = make_plan(size, seed=seed, today=datetime.now(CHINA_TIME).date())
    app = runtime.app
    step = _counter(plan.commands, progress)
    department = _department(app, SALES_DEPARTMENT, None)
    step()
    teams = []
    for name in SALES_TEAMS:
        teams.append(_department(app, name, department))
        step()
    manager = _user(app, *MANAGER, role="sales_manager", department_id=department)
    app.staff.change_department(ctx=_once("manager"), department_id=department, manager_id=manager)
    step()
    owners: dict[str, UUID] = {}
    for number, (username, display_name) in enumerate(plan.salespeople):
        owners[username] = _user(app, username, display_name, role="salesperson", department_id=teams[number % len(teams)])
        step()
    runtime.staff_changed()
    for number, customer in enumerate(plan.customers):
        _load_customer(app, customer, owners[customer.owner], step, key=f"seed-demo:{size}:{seed}:{number}")
    return plan.summary()


def _counter(total: int, progress: Callable[[int, int], None] | None) -> Callable[[], None]:
    done = 0
    if progress is not None:
        progress(done, total)

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return step


def _once(key: str) -> Context:
    """A context whose idempotency key makes the command happen once, however often seeding runs."""
    key = f"seed-demo:{key}"
    return Context(actor=ACTOR, idempotency=Idempotency(key, key))


def _department(app: CRM, name: str, parent_id: UUID | None) -> UUID:
    return app.staff.create_department(ctx=_once(f"department:{name}"), name=name, parent_id=parent_id).id


def _user(app: CRM, username: str, display_name: str, *, role: str, department_id: UUID) -> UUID:
    """The id of the user with this username, registered if there is none yet."""
    existing = app.staff.user_by_username(username)
    if existing is not None:
        return existing.id
    written = app.staff.register_user(
        ctx=Context(actor=ACTOR),
        username=username,
        password=PASSWORD,
        display_name=display_name,
        department_id=department_id,
        role_ids=(Role.create_id(role),),
    )
    return written.id


def _load_customer(
    app: CRM, planned: PlannedCustomer, owner_id: UUID, step: Callable[[], None], *, key: str
) -> None:
    """Register the customer, then add its contacts and log its activities, one command each;
    the commands of one customer share a correlation id, and each has its own idempotency key."""
    correlation_id = str(uuid4())
    commands = iter(range(1 + len(planned.contacts) + len(planned.activities)))

    def ctx() -> Context:
        command_key = f"{key}:{next(commands)}"
        return Context(
            actor=ACTOR, correlation_id=correlation_id, user_id=owner_id,
            idempotency=Idempotency(command_key, command_key),
        )  # fmt: skip

    customer_id = app.customers.register(
        ctx=ctx(), name=planned.name, kind=planned.kind, owner_id=owner_id, **planned.profile
    ).id
    step()
    contact_ids = []
    for contact in planned.contacts:
        contact_ids.append(app.customers.add_contact(ctx=ctx(), customer_id=customer_id, **contact).id)
        step()
    for activity in planned.activities:
        app.customers.log_activity(
            ctx=ctx(),
            customer_id=customer_id,
            kind=activity.kind,
            occurred_at=activity.occurred_at,
            summary=activity.summary,
            next_step=activity.next_step,
            contact_id=None if activity.contact is None else contact_ids[activity.contact],
        )
        step()
