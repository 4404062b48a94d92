"""Chinese cities and their provinces: which words are cities, and where a city lies.

The SMS parser reads cities with these names, and a move to a city sets the member's
province from it (models.member), so the two never disagree.
"""

from __future__ import annotations

import re

# Every prefecture-level city (地级市) by province, the four municipalities, Hong Kong and
# Macau, and the county-level cities that draw many migrant workers or are the seat of an
# autonomous prefecture. Names are given without the 市 suffix; the parser also accepts
# them with it. County-level cities whose names are everyday words (东方, 开平 ...) are left
# out on purpose: a false "city" would eat the start of an employer's name.
# A municipality (and Hong Kong, Macau) is its own province.
_CITIES_BY_PROVINCE = {
    "北京": "北京",
    "天津": "天津",
    "上海": "上海",
    "重庆": "重庆",
    "香港": "香港",
    "澳门": "澳门",
    "河北": "石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水",
    "山西": "太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁",
    "内蒙古": "呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布 满洲里 二连浩特",
    "辽宁": "沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛",
    "吉林": "长春 吉林 四平 辽源 通化 白山 松原 白城 延吉",
    "黑龙江": "哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化",
    "江苏": "南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁 "
    "昆山 江阴 张家港 常熟 太仓 宜兴",
    "浙江": "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 "
    "义乌 慈溪 余姚 诸暨 永康 温岭 乐清 瑞安",
    "安徽": "合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城",
    "福建": "福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德 晋江 石狮 福清 南安",
    "江西": "南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶",
    "山东": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽",
    "河南": "郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 "
    "周口 驻马店 济源",
    "湖北": "武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 仙桃 潜江 天门 恩施",
    "湖南": "长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底 吉首",
    "广东": "广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 "
    "东莞 中山 潮州 揭阳 云浮",
    "广西": "南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左",
    "海南": "海口 三亚 三沙 儋州",
    "四川": "成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 "
    "巴中 资阳 西昌",
    "贵州": "贵阳 六盘水 遵义 安顺 毕节 铜仁 凯里 都匀 兴义",
    "云南": "昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 大理 景洪",
    "西藏": "拉萨 日喀则 昌都 林芝 山南 那曲",
    "陕西": "西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛",
    "甘肃": "兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南",
    "青海": "西宁 海东 格尔木",
    "宁夏": "银川 石嘴山 吴忠 固原 中卫",
    "新疆": "乌鲁木齐 克拉玛依 吐鲁番 哈密 库尔勒 喀什 阿克苏 伊宁 石河子",
}

PROVINCE_OF: dict[str, str] = {
    city: province for province, names in _CITIES_BY_PROVINCE.items() for city in names.split()
}
"""The province (short form, as the register writes it) of every known city."""

CITIES: frozenset[str] = frozenset(PROVINCE_OF)
"""Known city names without the 市 suffix, for deciding whether an SMS token is a city."""

# Provinces and autonomous regions, short and full forms. Municipalities are cities above;
# 吉林 is both a province and a city and appears in both sets.
_PROVINCE_NAMES = """
河北 山西 内蒙古 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东
广西 海南 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 台湾
河北省 山西省 辽宁省 吉林省 黑龙江省 江苏省 浙江省 安徽省 福建省 江西省 山东省 河南省
湖北省 湖南省 广东省 海南省 四川省 贵州省 云南省 陕西省 甘肃省 青海省 台湾省
内蒙古自治区 广西壮族自治区 西藏自治区 宁夏回族自治区 新疆维吾尔自治区
"""

PROVINCES: frozenset[str] = frozenset(_PROVINCE_NAMES.split())
"""Province names, short and full, so "广东深圳" or "广东省 深圳" still finds the city."""

_CITY_SUFFIX = re.compile(r"市$")


def city_key(city: str | None) -> str:
    """A city name as compared: no spaces, no 市 suffix ("广州市" and "广州" are one city)."""
    return _CITY_SUFFIX.sub("", "".join((city or "").split()))


def province_of(city: str | None) -> str | None:
    """The province of a known city ("深圳" -> "广东", "北京" -> "北京"), else None."""
    return PROVINCE_OF.get(city_key(city))
