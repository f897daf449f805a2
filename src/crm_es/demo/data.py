"""The demo data's material: places, sizes and staff, companies, people and activities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone
from itertools import permutations

ACTIVITY_WINDOW_DAYS = 180
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""China keeps UTC+8 all year round."""


# Places ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    short: str  # as it starts a company name
    code: str  # as it starts a company's web domain (two letters, one per city)
    province: str
    city: str
    area_code: str
    landline_leads: str  # digits local landline numbers start with
    districts: Mapping[str, tuple[str, ...]]  # district: roads in it
    industries: Mapping[str, int]  # industry: weight
    weight: int  # share of the customers
    team: str  # the sales team that looks after the city's customers


SALES_DEPARTMENT = "华东销售部"

# The first three cities are the small size's; the others join in the larger sizes.
CITIES = (
    City(
        short="宁波", code="nb", province="浙江省", city="宁波市", area_code="0574", landline_leads="826",
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
        weight=20, team="宁波销售组",
    ),
    City(
        short="杭州", code="hz", province="浙江省", city="杭州市", area_code="0571", landline_leads="852",
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
        weight=16, team="杭州销售组",
    ),
    City(
        short="上海", code="sh", province="上海市", city="上海市", area_code="021", landline_leads="563",
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
        weight=16, team="上海销售组",
    ),
    City(
        short="苏州", code="sz", province="江苏省", city="苏州市", area_code="0512", landline_leads="657",
        districts={
            "姑苏区": ("人民路", "干将西路"),
            "吴中区": ("东吴北路", "宝带西路"),
            "相城区": ("相城大道", "澄阳路"),
            "虎丘区": ("长江路", "狮山路"),
            "昆山市": ("前进中路", "黄河中路"),
            "张家港市": ("人民中路", "沙洲西路"),
        },
        industries={"电子电器": 25, "机械制造": 20, "纺织服装": 15, "外贸": 12, "软件信息": 10,
                    "化工": 8, "物流": 6, "食品饮料": 4},
        weight=10, team="苏州销售组",
    ),
    City(
        short="温州", code="wz", province="浙江省", city="温州市", area_code="0577", landline_leads="886",
        districts={
            "鹿城区": ("人民路", "车站大道", "学院中路"),
            "瓯海区": ("瓯海大道", "温州大道"),
            "龙湾区": ("永强大道", "机场大道"),
            "瑞安市": ("瑞安大道", "万松东路"),
            "乐清市": ("旭阳路", "宁康西路"),
        },
        industries={"电子电器": 25, "纺织服装": 20, "机械制造": 20, "外贸": 15, "化工": 5,
                    "食品饮料": 5, "物流": 5, "软件信息": 5},
        weight=6, team="温州销售组",
    ),
    City(
        short="南京", code="nj", province="江苏省", city="南京市", area_code="025", landline_leads="584",
        districts={
            "玄武区": ("中山路", "北京东路"),
            "鼓楼区": ("中山北路", "汉中路"),
            "秦淮区": ("中华路", "太平南路"),
            "建邺区": ("江东中路", "应天大街"),
            "江宁区": ("双龙大道", "天元中路"),
            "雨花台区": ("软件大道", "宁双路"),
        },
        industries={"软件信息": 25, "电子电器": 15, "化工": 12, "机械制造": 12, "物流": 12, "外贸": 10,
                    "食品饮料": 8, "纺织服装": 6},
        weight=5, team="南京销售组",
    ),
    City(
        short="绍兴", code="sx", province="浙江省", city="绍兴市", area_code="0575", landline_leads="851",
        districts={
            "越城区": ("解放北路", "人民中路"),
            "柯桥区": ("金柯桥大道", "笛扬路"),
            "上虞区": ("人民西路", "市民大道"),
            "诸暨市": ("暨阳路", "艮塔西路"),
        },
        industries={"纺织服装": 35, "化工": 15, "机械制造": 15, "外贸": 12, "食品饮料": 8, "电子电器": 7,
                    "物流": 5, "软件信息": 3},
        weight=5, team="杭州销售组",
    ),
    City(
        short="嘉兴", code="jx", province="浙江省", city="嘉兴市", area_code="0573", landline_leads="823",
        districts={
            "南湖区": ("中山东路", "广益路"),
            "秀洲区": ("洪兴西路", "中山西路"),
            "海宁市": ("海州路", "文苑路"),
            "桐乡市": ("庆丰路", "振兴东路"),
        },
        industries={"纺织服装": 30, "化工": 15, "机械制造": 15, "电子电器": 12, "外贸": 12, "食品饮料": 6,
                    "物流": 6, "软件信息": 4},
        weight=4, team="杭州销售组",
    ),
    City(
        short="台州", code="tz", province="浙江省", city="台州市", area_code="0576", landline_leads="881",
        districts={
            "椒江区": ("市府大道", "东海大道"),
            "黄岩区": ("劳动北路", "东城路"),
            "路桥区": ("路桥大道", "银座街"),
            "温岭市": ("万昌中路", "东辉北路"),
        },
        industries={"机械制造": 30, "化工": 15, "电子电器": 15, "外贸": 12, "纺织服装": 10, "食品饮料": 8,
                    "物流": 6, "软件信息": 4},
        weight=4, team="宁波销售组",
    ),
    City(
        short="无锡", code="wx", province="江苏省", city="无锡市", area_code="0510", landline_leads="827",
        districts={
            "梁溪区": ("人民中路", "中山路"),
            "滨湖区": ("梁溪路", "蠡湖大道"),
            "新吴区": ("长江路", "珠江路"),
            "江阴市": ("澄江中路", "人民东路"),
        },
        industries={"机械制造": 25, "电子电器": 20, "纺织服装": 15, "化工": 12, "外贸": 10, "软件信息": 8,
                    "物流": 6, "食品饮料": 4},
        weight=5, team="苏州销售组",
    ),
    City(
        short="常州", code="cz", province="江苏省", city="常州市", area_code="0519", landline_leads="868",
        districts={
            "天宁区": ("和平北路", "关河东路"),
            "钟楼区": ("延陵西路", "南大街"),
            "新北区": ("太湖东路", "通江中路"),
            "武进区": ("常武中路", "延政中路"),
        },
        industries={"机械制造": 30, "电子电器": 20, "化工": 12, "纺织服装": 12, "外贸": 10, "软件信息": 6,
                    "物流": 6, "食品饮料": 4},
        weight=3, team="苏州销售组",
    ),
    City(
        short="金华", code="jh", province="浙江省", city="金华市", area_code="0579", landline_leads="852",
        districts={
            "婺城区": ("人民西路", "宾虹路"),
            "金东区": ("光南路", "李渔路"),
            "义乌市": ("稠州北路", "宾王路", "工人北路"),
            "永康市": ("胜利街", "金城路"),
        },
        industries={"外贸": 30, "机械制造": 20, "纺织服装": 15, "电子电器": 12, "食品饮料": 8, "物流": 8,
                    "化工": 4, "软件信息": 3},
        weight=3, team="杭州销售组",
    ),
    City(
        short="合肥", code="hf", province="安徽省", city="合肥市", area_code="0551", landline_leads="636",
        districts={
            "蜀山区": ("长江西路", "黄山路"),
            "包河区": ("马鞍山路", "徽州大道"),
            "庐阳区": ("阜阳北路", "长江中路"),
            "瑶海区": ("长江东路", "胜利路"),
        },
        industries={"电子电器": 25, "软件信息": 15, "机械制造": 15, "化工": 10, "食品饮料": 10, "物流": 10,
                    "外贸": 8, "纺织服装": 7},
        weight=3, team="南京销售组",
    ),
)


# Sizes and staff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    name: str  # part of every id and random seed: each size is a data set of its own
    customers: int
    salespeople: int
    cities: int  # the first so many of CITIES
    chunk: int = 250  # customers per chunk: planned together, saved in one transaction
    stock_items: int = 0  # of the demo catalogue (demo/stock.py), with half a year of movements

    def __post_init__(self) -> None:
        if not 1 <= self.cities <= len(CITIES):
            raise ValueError(f"a size has 1 to {len(CITIES)} cities")
        if not len(teams_of(self)) <= self.salespeople <= len(SALESPEOPLE):
            raise ValueError(f"{self.name}: a salesperson per team at least, {len(SALESPEOPLE)} at most")
        if self.customers < 0 or self.chunk < 1:
            raise ValueError(f"{self.name}: customers must be at least 0 and chunks at least 1")

    @property
    def chunks(self) -> int:
        return math.ceil(self.customers / self.chunk)

    def indexes(self, chunk: int) -> range:
        """The numbers of the customers of a chunk."""
        return range(chunk * self.chunk, min((chunk + 1) * self.chunk, self.customers))


def teams_of(size: Size) -> tuple[str, ...]:
    """The sales teams of a size: one for each region of its cities."""
    return tuple(dict.fromkeys(city.team for city in CITIES[: size.cities]))


MANAGER = ("zhaomin", "赵敏")
"""The sales manager: heads the sales department and sees every team's customers."""

KEEPER = ("zhoujian", "周建")
"""The warehouse keeper (role warehouse), of the warehouse department: counts the stock."""
WAREHOUSE_DEPARTMENT = "仓储部"

# Salespeople: (username, display name).
SALESPEOPLE = (
    ("wangli", "王丽"), ("chenjie", "陈杰"), ("zhangmin", "张敏"), ("liuyang", "刘洋"),
    ("zhouting", "周婷"), ("xuhao", "徐浩"), ("sunqiang", "孙强"), ("huyan", "胡燕"),
    ("lina", "李娜"), ("wangfang", "王芳"), ("zhaolei", "赵磊"), ("yangfan", "杨帆"),
    ("huangwei", "黄伟"), ("wujing", "吴静"), ("zhengkai", "郑凯"), ("linxue", "林雪"),
    ("hejun", "何军"), ("gaoyuan", "高远"), ("luohui", "罗辉"), ("liangyu", "梁宇"),
    ("songjia", "宋佳"), ("xiehong", "谢红"), ("hanbing", "韩冰"), ("tangning", "唐宁"),
    ("fengtao", "冯涛"), ("dongqian", "董倩"), ("shenyi", "沈怡"), ("jiangpeng", "蒋鹏"),
    ("yelin", "叶琳"), ("yuchen", "俞晨"), ("shaofeng", "邵峰"), ("jinmei", "金梅"),
    ("baoxin", "鲍鑫"), ("zhuhua", "朱华"), ("guoliang", "郭亮"), ("maxiao", "马晓"),
    ("qianlu", "钱璐"), ("caili", "蔡丽"), ("pansong", "潘松"), ("duwen", "杜文"),
)

SIZES = {
    size.name: size
    for size in (
        Size("small", customers=60, salespeople=4, cities=3, stock_items=240),
        Size("medium", customers=10_000, salespeople=16, cities=len(CITIES), stock_items=320),
        Size("large", customers=100_000, salespeople=40, cities=len(CITIES), stock_items=380),
    )
}


def team_assignment(size: Size) -> dict[str, str]:
    """Salesperson (username) → team. Each team gets salespeople in proportion to the share of
    the customers its cities have (the highest average, as seats are shared out in elections),
    so every team has at least one, and the small size's four are 宁波, 杭州, 上海, 宁波."""
    cities = CITIES[: size.cities]
    weights = {team: sum(c.weight for c in cities if c.team == team) for team in teams_of(size)}
    members = dict.fromkeys(weights, 0)
    assignment = {}
    for number, (username, _) in enumerate(SALESPEOPLE[: size.salespeople]):
        if number < len(weights):
            team = list(weights)[number]  # one each first
        else:
            team = max(weights, key=lambda t: weights[t] / (members[t] + 1))
        members[team] += 1
        assignment[username] = team
    return assignment


# Companies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Industry:
    name_words: tuple[str, ...]  # what follows the brand in a company name
    products: tuple[str, ...]  # what the business talks with such a company about


INDUSTRIES = {
    "纺织服装": Industry(("服饰", "纺织", "针织", "制衣", "织造", "时装"), ("针织面料", "衬衫", "羽绒服", "工装", "童装")),
    "机械制造": Industry(("机械", "精工", "机电", "液压设备", "重工", "五金"), ("数控机床", "液压缸", "注塑机", "轴承", "紧固件")),
    "电子电器": Industry(("电子", "电器", "光电", "智能科技", "电气"), ("小家电", "电源适配器", "传感器", "LED灯具", "线束")),
    "外贸": Industry(("贸业", "进出口", "国际贸易", "商贸", "实业"), ("日用百货", "五金工具", "家居用品", "文具")),
    "食品饮料": Industry(("食品", "饮品", "农产品", "食品科技"), ("冷冻水产", "调味品", "包装饮用水", "休闲食品", "年糕")),
    "化工": Industry(("化工", "新材料", "塑业", "涂料", "化学"), ("塑料粒子", "工业涂料", "胶粘剂", "溶剂")),
    "物流": Industry(("物流", "供应链管理", "国际货运代理", "运输"), ("仓储服务", "集装箱运输", "冷链配送", "报关代理")),
    "软件信息": Industry(("软件", "信息技术", "网络科技", "数据科技"), ("ERP系统", "小程序开发", "云服务器", "数据中台")),
}

# Brand characters with their pinyin, which names the company's web domain. No two share a
# syllable, and no two brands spell the same (``xin`` + ``an`` against ``xi`` + ``nan`` is why
# 南 is not among them), so every two-character brand has a domain of its own.
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
    ("朗", "lang"), ("鼎", "ding"), ("鹏", "peng"), ("星", "xing"), ("振", "zhen"), ("合", "he"),
    ("协", "xie"), ("仁", "ren"), ("乐", "le"), ("平", "ping"), ("山", "shan"), ("川", "chuan"),
    ("云", "yun"), ("智", "zhi"), ("盈", "ying"), ("茂", "mao"), ("彩", "cai"), ("如", "ru"),
    ("全", "quan"), ("群", "qun"), ("汉", "han"), ("乾", "qian"), ("坤", "kun"), ("楚", "chu"),
    ("秦", "qin"), ("鲁", "lu"), ("吉", "ji"), ("庆", "qing"), ("贝", "bei"), ("蓝", "lan"),
    ("拓", "tuo"), ("途", "tu"), ("迅", "xun"), ("驰", "chi"), ("航", "hang"), ("展", "zhan"),
    ("强", "qiang"), ("赛", "sai"), ("冠", "guan"), ("本", "ben"), ("朴", "pu"), ("宁", "ning"),
    ("绿", "lv"), ("农", "nong"), ("雄", "xiong"), ("标", "biao"), ("桥", "qiao"), ("炬", "ju"),
    ("灿", "can"), ("闻", "wen"), ("春", "chun"), ("夏", "xia"), ("秋", "qiu"), ("松", "song"),
    ("竹", "zhu"), ("莱", "lai"), ("沃", "wo"), ("派", "pai"), ("纳", "na"), ("诺", "nuo"),
    ("斯", "si"), ("特", "te"), ("艾", "ai"), ("玛", "ma"), ("固", "gu"), ("坚", "jian"),
    ("兆", "zhao"), ("品", "pin"), ("彬", "bin"), ("溪", "xi"), ("硕", "shuo"), ("旭", "xu"),
    ("炫", "xuan"), ("朝", "chao"), ("雷", "lei"), ("蒙", "meng"), ("邦", "bang"), ("申", "shen"),
    ("苏", "su"), ("策", "ce"), ("道", "dao"), ("盾", "dun"), ("舒", "shu"), ("铁", "tie"),
    ("钢", "gang"), ("墨", "mo"), ("彦", "yan"), ("贵", "gui"), ("尊", "zun"), ("盘", "pan"),
    ("梁", "liang"), ("翠", "cui"),
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
    ("钱", "qian"), ("蔡", "cai"), ("潘", "pan"), ("杜", "du"), ("许", "xu"), ("曹", "cao"),
    ("袁", "yuan"), ("汪", "wang"), ("陆", "lu"), ("顾", "gu"), ("姚", "yao"), ("戴", "dai"),
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
    ("明", "ming"), ("华", "hua"), ("斌", "bin"), ("颖", "ying"), ("婷", "ting"), ("强", "qiang"),
    ("建平", "jianping"), ("卫东", "weidong"), ("春梅", "chunmei"), ("金凤", "jinfeng"),
    ("志明", "zhiming"), ("海燕", "haiyan"), ("子涵", "zihan"), ("一鸣", "yiming"),
    ("思远", "siyuan"), ("梦婷", "mengting"), ("家豪", "jiahao"), ("雨婷", "yuting"),
    ("永康", "yongkang"), ("慧敏", "huimin"), ("文杰", "wenjie"), ("晓峰", "xiaofeng"),
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
