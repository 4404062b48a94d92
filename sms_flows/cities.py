"""Place names the SMS parser recognises: Chinese cities and provinces, without suffixes,
and the same cities written in pinyin or English (``shenzhen``, ``Guangzhou``, ``DONGGUAN``).

The Chinese names and each city's province live in models.places (a move sets the province
from the city); this module adds what only the parser needs.
"""

from __future__ import annotations

import re

from models.places import CITIES, PROVINCES

__all__ = [
    "CITIES",
    "PROVINCES",
    "ROMAN_CITIES",
    "ROMAN_PROVINCES",
    "join_roman_names",
    "roman_city",
]

# Every known city in toneless pinyin, run together as members and maps write it. Five
# spellings name two cities each (Fuzhou, Suzhou, Taizhou, Yichun, Yulin): each names the
# larger one (福州, 苏州, 台州, 宜春, 玉林), which draws far more migrant workers.
_PINYIN = """
BEIJING:北京
TIANJIN:天津
SHANGHAI:上海
CHONGQING:重庆
XIANGGANG:香港
AOMEN:澳门
SHIJIAZHUANG:石家庄 TANGSHAN:唐山 QINHUANGDAO:秦皇岛 HANDAN:邯郸 XINGTAI:邢台 BAODING:保定
ZHANGJIAKOU:张家口 CHENGDE:承德 CANGZHOU:沧州 LANGFANG:廊坊 HENGSHUI:衡水
TAIYUAN:太原 DATONG:大同 YANGQUAN:阳泉 CHANGZHI:长治 JINCHENG:晋城 SHUOZHOU:朔州 JINZHONG:晋中
YUNCHENG:运城 XINZHOU:忻州 LINFEN:临汾 LVLIANG:吕梁
HUHEHAOTE:呼和浩特 BAOTOU:包头 WUHAI:乌海 CHIFENG:赤峰 TONGLIAO:通辽 ERDUOSI:鄂尔多斯 HULUNBEIER:呼伦贝尔
BAYANNAOER:巴彦淖尔 WULANCHABU:乌兰察布 MANZHOULI:满洲里 ERLIANHAOTE:二连浩特
SHENYANG:沈阳 DALIAN:大连 ANSHAN:鞍山 FUSHUN:抚顺 BENXI:本溪 DANDONG:丹东 JINZHOU:锦州 YINGKOU:营口
FUXIN:阜新 LIAOYANG:辽阳 PANJIN:盘锦 TIELING:铁岭 CHAOYANG:朝阳 HULUDAO:葫芦岛
CHANGCHUN:长春 JILIN:吉林 SIPING:四平 LIAOYUAN:辽源 TONGHUA:通化 BAISHAN:白山 SONGYUAN:松原 BAICHENG:白城
YANJI:延吉
HAERBIN:哈尔滨 QIQIHAER:齐齐哈尔 JIXI:鸡西 HEGANG:鹤岗 SHUANGYASHAN:双鸭山 DAQING:大庆 JIAMUSI:佳木斯
QITAIHE:七台河 MUDANJIANG:牡丹江 HEIHE:黑河 SUIHUA:绥化
NANJING:南京 WUXI:无锡 XUZHOU:徐州 CHANGZHOU:常州 SUZHOU:苏州 NANTONG:南通 LIANYUNGANG:连云港 HUAIAN:淮安
YANCHENG:盐城 YANGZHOU:扬州 ZHENJIANG:镇江 SUQIAN:宿迁 KUNSHAN:昆山 JIANGYIN:江阴 ZHANGJIAGANG:张家港
CHANGSHU:常熟 TAICANG:太仓 YIXING:宜兴
HANGZHOU:杭州 NINGBO:宁波 WENZHOU:温州 JIAXING:嘉兴 HUZHOU:湖州 SHAOXING:绍兴 JINHUA:金华 QUZHOU:衢州
ZHOUSHAN:舟山 TAIZHOU:台州 LISHUI:丽水 YIWU:义乌 CIXI:慈溪 YUYAO:余姚 ZHUJI:诸暨 YONGKANG:永康 WENLING:温岭
YUEQING:乐清 RUIAN:瑞安
HEFEI:合肥 WUHU:芜湖 BENGBU:蚌埠 HUAINAN:淮南 MAANSHAN:马鞍山 HUAIBEI:淮北 TONGLING:铜陵 ANQING:安庆
HUANGSHAN:黄山 CHUZHOU:滁州 FUYANG:阜阳 LUAN:六安 BOZHOU:亳州 CHIZHOU:池州 XUANCHENG:宣城
FUZHOU:福州 XIAMEN:厦门 PUTIAN:莆田 SANMING:三明 QUANZHOU:泉州 ZHANGZHOU:漳州 NANPING:南平 LONGYAN:龙岩
NINGDE:宁德 JINJIANG:晋江 SHISHI:石狮 FUQING:福清 NANAN:南安
NANCHANG:南昌 JINGDEZHEN:景德镇 PINGXIANG:萍乡 JIUJIANG:九江 XINYU:新余 YINGTAN:鹰潭 GANZHOU:赣州 JIAN:吉安
YICHUN:宜春 SHANGRAO:上饶
JINAN:济南 QINGDAO:青岛 ZIBO:淄博 ZAOZHUANG:枣庄 DONGYING:东营 YANTAI:烟台 WEIFANG:潍坊 JINING:济宁
TAIAN:泰安 WEIHAI:威海 RIZHAO:日照 LINYI:临沂 DEZHOU:德州 LIAOCHENG:聊城 BINZHOU:滨州 HEZE:菏泽
ZHENGZHOU:郑州 KAIFENG:开封 LUOYANG:洛阳 PINGDINGSHAN:平顶山 ANYANG:安阳 HEBI:鹤壁 XINXIANG:新乡
JIAOZUO:焦作 PUYANG:濮阳 XUCHANG:许昌 LUOHE:漯河 SANMENXIA:三门峡 NANYANG:南阳 SHANGQIU:商丘 XINYANG:信阳
ZHOUKOU:周口 ZHUMADIAN:驻马店 JIYUAN:济源
WUHAN:武汉 HUANGSHI:黄石 SHIYAN:十堰 YICHANG:宜昌 XIANGYANG:襄阳 EZHOU:鄂州 JINGMEN:荆门 XIAOGAN:孝感
JINGZHOU:荆州 HUANGGANG:黄冈 XIANNING:咸宁 SUIZHOU:随州 XIANTAO:仙桃 QIANJIANG:潜江 TIANMEN:天门 ENSHI:恩施
CHANGSHA:长沙 ZHUZHOU:株洲 XIANGTAN:湘潭 HENGYANG:衡阳 SHAOYANG:邵阳 YUEYANG:岳阳 CHANGDE:常德
ZHANGJIAJIE:张家界 YIYANG:益阳 CHENZHOU:郴州 YONGZHOU:永州 HUAIHUA:怀化 LOUDI:娄底 JISHOU:吉首
GUANGZHOU:广州 SHAOGUAN:韶关 SHENZHEN:深圳 ZHUHAI:珠海 SHANTOU:汕头 FOSHAN:佛山 JIANGMEN:江门
ZHANJIANG:湛江 MAOMING:茂名 ZHAOQING:肇庆 HUIZHOU:惠州 MEIZHOU:梅州 SHANWEI:汕尾 HEYUAN:河源 YANGJIANG:阳江
QINGYUAN:清远 DONGGUAN:东莞 ZHONGSHAN:中山 CHAOZHOU:潮州 JIEYANG:揭阳 YUNFU:云浮
NANNING:南宁 LIUZHOU:柳州 GUILIN:桂林 WUZHOU:梧州 BEIHAI:北海 FANGCHENGGANG:防城港 QINZHOU:钦州 GUIGANG:贵港
YULIN:玉林 BAISE:百色 HEZHOU:贺州 HECHI:河池 LAIBIN:来宾 CHONGZUO:崇左
HAIKOU:海口 SANYA:三亚 SANSHA:三沙 DANZHOU:儋州
CHENGDU:成都 ZIGONG:自贡 PANZHIHUA:攀枝花 LUZHOU:泸州 DEYANG:德阳 MIANYANG:绵阳 GUANGYUAN:广元 SUINING:遂宁
NEIJIANG:内江 LESHAN:乐山 NANCHONG:南充 MEISHAN:眉山 YIBIN:宜宾 GUANGAN:广安 DAZHOU:达州 YAAN:雅安
BAZHONG:巴中 ZIYANG:资阳 XICHANG:西昌
GUIYANG:贵阳 LIUPANSHUI:六盘水 ZUNYI:遵义 ANSHUN:安顺 BIJIE:毕节 TONGREN:铜仁 KAILI:凯里 DUYUN:都匀
XINGYI:兴义
KUNMING:昆明 QUJING:曲靖 YUXI:玉溪 BAOSHAN:保山 ZHAOTONG:昭通 LIJIANG:丽江 PUER:普洱 LINCANG:临沧 DALI:大理
JINGHONG:景洪
LASA:拉萨 RIKAZE:日喀则 CHANGDU:昌都 LINZHI:林芝 SHANNAN:山南 NAQU:那曲
XIAN:西安 TONGCHUAN:铜川 BAOJI:宝鸡 XIANYANG:咸阳 WEINAN:渭南 YANAN:延安 HANZHONG:汉中 ANKANG:安康
SHANGLUO:商洛
LANZHOU:兰州 JIAYUGUAN:嘉峪关 JINCHANG:金昌 BAIYIN:白银 TIANSHUI:天水 WUWEI:武威 ZHANGYE:张掖 PINGLIANG:平凉
JIUQUAN:酒泉 QINGYANG:庆阳 DINGXI:定西 LONGNAN:陇南
XINING:西宁 HAIDONG:海东 GEERMU:格尔木
YINCHUAN:银川 SHIZUISHAN:石嘴山 WUZHONG:吴忠 GUYUAN:固原 ZHONGWEI:中卫
WULUMUQI:乌鲁木齐 KELAMAYI:克拉玛依 TULUFAN:吐鲁番 HAMI:哈密 KUERLE:库尔勒 KASHI:喀什 AKESU:阿克苏 YINING:伊宁
SHIHEZI:石河子
"""

# Names in English (postal or common spellings) that are not plain pinyin.
_ENGLISH = """
HONGKONG:香港 MACAU:澳门 MACAO:澳门 HARBIN:哈尔滨 QIQIHAR:齐齐哈尔 HOHHOT:呼和浩特
URUMQI:乌鲁木齐 LHASA:拉萨 KASHGAR:喀什 KORLA:库尔勒 GOLMUD:格尔木 ERENHOT:二连浩特
BAYANNUR:巴彦淖尔 HULUNBUIR:呼伦贝尔 SHIGATSE:日喀则 LULIANG:吕梁 ORDOS:鄂尔多斯
"""

ROMAN_CITIES: dict[str, str] = dict(item.split(":") for item in (_PINYIN + _ENGLISH).split())
"""Upper-case pinyin or English name -> the city's Chinese name."""

_PROVINCE_WORDS = """
GUANGDONG GUANGXI HEBEI SHANXI SHAANXI NEIMENGGU LIAONING HEILONGJIANG JIANGSU ZHEJIANG ANHUI
FUJIAN JIANGXI SHANDONG HENAN HUBEI HUNAN HAINAN SICHUAN GUIZHOU YUNNAN XIZANG TIBET GANSU
QINGHAI NINGXIA XINJIANG TAIWAN
"""
ROMAN_PROVINCES: frozenset[str] = frozenset(_PROVINCE_WORDS.split())
"""Provinces in pinyin or English: never an employer's name (吉林 Jilin is a city too)."""

# "Hong Kong" is two words, "Xi'an" and "Ma'anshan" carry an apostrophe: made one word before
# a text is split into tokens, when together they name a city (so "McDonald's" stays).
_APOSTROPHE_NAME = re.compile(r"\b([A-Za-z]+)['’]([A-Za-z]+)\b")
_HONG_KONG = re.compile(r"\bhong\s+kong\b", re.IGNORECASE)


def join_roman_names(text: str) -> str:
    """The text with romanized city names that span a space or an apostrophe made one word."""

    def join(found: re.Match[str]) -> str:
        joined = found.group(1) + found.group(2)
        return joined if joined.upper() in ROMAN_CITIES else found.group(0)

    return _APOSTROPHE_NAME.sub(join, _HONG_KONG.sub("Hongkong", text))


def roman_city(token: str) -> str | None:
    """The Chinese name of a city written in pinyin or English (any case), else None."""
    if not token.isascii():
        return None
    return ROMAN_CITIES.get(token.upper())
