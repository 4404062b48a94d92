"""Every text the system sends a member, as named templates per language.

A template provider (domestic SMS) needs the key and parameters, not the rendered body,
so outbound rows keep both. Texts are written to fit one SMS segment when filled.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

DEFAULT_LANGUAGE = "zh_CN"

TEMPLATES: dict[str, dict[str, str]] = {
    # Replies to inbound SMS.
    "menu": {
        "zh_CN": "回复:HB 1学了/2没学 汇报;DT 城市 动态;QZ 1-7 求助;XX 学习;GX 贡献;HH 换号;TD 退订",
        "en": "Reply: HB 1/2 report, DT city, QZ 1-7 help, XX lessons, GX deed, HH new phone, STOP opt out",
    },
    "unmatched": {
        "zh_CN": "您的号码未登记。请联系村党支部登记手机号后再发送。",
        "en": "This number is not registered. Ask your village branch to register it.",
    },
    "not_understood": {
        "zh_CN": "未能识别,已转支部。回复?查看菜单。",
        "en": "Not understood; passed to your branch. Reply ? for the menu.",
    },
    "report_ask_studied": {
        "zh_CN": "{name}您好,{month}月汇报:本月参加学习了吗?回复1学了,2没学",
        "en": "{name}, report for {month}: did you study this month? Reply 1 yes, 2 no",
    },
    "report_ask_same": {
        "zh_CN": "还在{city}{employer}吗?回复1是;变了请回复新城市和单位",
        "en": "Still in {city} at {employer}? Reply 1 yes, or the new city and employer",
    },
    "report_same_invalid": {
        "zh_CN": "请回复1(没变),或回复新的城市和单位,如:深圳 电子厂",
        "en": "Reply 1 if nothing changed, or the new city and employer, e.g. Shenzhen factory",
    },
    "report_ask_place": {
        "zh_CN": "请回复新的城市和单位,如:深圳 电子厂",
        "en": "Reply with the new city and employer, e.g. Shenzhen factory",
    },
    "report_done": {
        "zh_CN": "{name},{month}月汇报已收到,回执{receipt}。谢谢!",
        "en": "{name}, your {month} report is received, receipt {receipt}. Thanks!",
    },
    "status_done": {
        "zh_CN": "已更新:{city} {employer}。谢谢告知支部!",
        "en": "Updated: {city} {employer}. Thank you for telling the branch!",
    },
    "status_ask": {
        "zh_CN": "请回复新的城市和单位,如:DT 深圳 电子厂",
        "en": "Reply with the new city and employer, e.g. MOVE Shenzhen factory",
    },
    "help_ask_category": {
        "zh_CN": "求助类别:1工资2住房3子女入学4就业5纠纷6证照7其他。回复数字和情况",
        "en": "Help: 1 wages 2 housing 3 school 4 jobs 5 dispute 6 papers 7 other. Reply digit+details",
    },
    "help_done": {
        "zh_CN": "求助已收到({category}),编号{ref},支部会尽快联系您。",
        "en": "Help request received ({category}), ref {ref}. The branch will contact you.",
    },
    "help_ask_details": {
        "zh_CN": "求助已登记({category}),编号{ref}。请回复具体情况,支部会尽快联系您。",
        "en": "Help request {ref} opened ({category}). Reply with the details; the branch will call.",
    },
    "help_details_added": {
        "zh_CN": "已补充到求助{ref},支部会尽快联系您。",
        "en": "Added to help request {ref}. The branch will contact you.",
    },
    "notice_reply_ack": {
        "zh_CN": "您对通知的回复已收到,支部会查看。谢谢!",
        "en": "Your reply to the notice is received; the branch will read it. Thank you!",
    },
    "deed_done": {
        "zh_CN": "已记录({item}),编号{ref},待村支部确认。谢谢您为家乡出力!",
        "en": "Recorded ({item}), ref {ref}, for your branch to confirm. Thank you!",
    },
    "deed_ask_text": {
        "zh_CN": "({item})请回复具体做了什么,如:帮同乡在东莞找到工作",
        "en": "({item}) Reply with what you did, e.g. helped a neighbour find a job",
    },
    "deed_items": {
        "zh_CN": "五个一:1致富信息2思想工作3培养积极分子4帮人务工5办好事。请回复GX 序号 内容",
        "en": "Five ones: 1 tip 2 persuasion 3 activist 4 job 5 good deed. Reply DEED number + what",
    },
    "tip_approved": {
        "zh_CN": "您的致富信息{ref}已通过审核,将在热线播放给大家。谢谢!",
        "en": "Your tip {ref} is approved and will be played on the hotline. Thank you!",
    },
    "tip_text": {
        "zh_CN": "致富信息{ref},内容:{tip}",
        "en": "Tip {ref}, it says: {tip}",
    },
    "lessons_list": {
        "zh_CN": "最新课程:{items}。回复XX加编号,我们给您回电播放",
        "en": "New lessons: {items}. Reply LESSON + number and we call you to play it",
    },
    "lessons_none": {
        "zh_CN": "暂无课程。有新课程时会通知您。",
        "en": "No lessons yet. We will tell you when there are.",
    },
    "lesson_callback": {
        "zh_CN": "已登记:将回电为您播放第{number}课,请留意来电。",
        "en": "Noted: we will call you back to play lesson {number}.",
    },
    "lesson_unknown": {
        "zh_CN": "没有第{number}课。回复XX查看课程列表。",
        "en": "There is no lesson {number}. Reply LESSON for the list.",
    },
    "lesson_unplayable": {
        "zh_CN": "第{number}课暂不能电话收听。春节回村时请参加集中学习。",
        "en": "Lesson {number} cannot be heard by phone yet. Join the training when home for Spring Festival.",
    },
    "callback_limit": {
        "zh_CN": "今天的回电次数已用完,请明天再试。",
        "en": "No more callbacks today; please try again tomorrow.",
    },
    "phone_ask": {
        "zh_CN": "请回复:HH 新手机号,如 HH 13912345678",
        "en": "Reply NEWPHONE and the new number, e.g. NEWPHONE 13912345678",
    },
    "phone_invalid": {
        "zh_CN": "号码{phone}无效,请检查后重发:HH 新手机号",
        "en": "{phone} is not a valid number. Send NEWPHONE and the number again",
    },
    "phone_taken": {
        "zh_CN": "号码{phone}已被登记,请联系支部。",
        "en": "{phone} is already registered; please contact your branch.",
    },
    "phone_code_sent": {
        "zh_CN": "验证码已发到{phone},请用新手机回复该验证码完成换号。",
        "en": "A code was sent to {phone}. Text it back from the new phone to finish.",
    },
    "phone_code": {
        "zh_CN": "【流动党员】验证码{code},请用本机回复此码完成换号,3天内有效。",
        "en": "Your code is {code}. Text it back from this phone within 3 days to switch.",
    },
    "phone_changed": {
        "zh_CN": "换号成功!今后请用本号码{phone}联系支部。",
        "en": "Done! Please use this number {phone} from now on.",
    },
    "phone_code_wrong": {
        "zh_CN": "验证码不对或已过期,请在旧手机重发:HH 新手机号",
        "en": "Wrong or expired code. Send NEWPHONE again from the old phone",
    },
    "opted_out": {
        "zh_CN": "已退订,不再发送通知。回复DY可恢复。",
        "en": "You are unsubscribed. Reply START to subscribe again.",
    },
    "opted_in": {
        "zh_CN": "已恢复订阅,欢迎回来!回复?查看菜单。",
        "en": "Subscribed again, welcome back! Reply ? for the menu.",
    },
    "answer_no_question": {
        "zh_CN": "没有待回答的问题。回复?查看菜单。",
        "en": "There is no open question. Reply ? for the menu.",
    },
    "answer_invalid": {
        "zh_CN": "请回复1或2。回复?查看菜单。",
        "en": "Please reply 1 or 2. Reply ? for the menu.",
    },
    # Sent by workers and the admin.
    "reminder": {
        "zh_CN": "{name}您好,请汇报{month}月情况:本月学习了吗?回复1学了,2没学",
        "en": "{name}, please report for {month}: did you study? Reply 1 yes, 2 no",
    },
    "reminder_second": {
        "zh_CN": "{name},{month}月汇报还没收到,回复1学了或2没学即可",
        "en": "{name}, we still need your {month} report: reply 1 studied or 2 not",
    },
    "lesson_missed": {
        "zh_CN": "未能接通课程电话。回复XX {number}将回电为您播放《{title}》",
        "en": "We could not reach you. Reply XX {number} and we will call you back with {title}",
    },
    "help_resolved": {
        "zh_CN": "您的求助{ref}已办结:{note}",
        "en": "Your help request {ref} is resolved: {note}",
    },
    "help_pending": {
        "zh_CN": "您的求助{ref}仍在办理中,村支部会尽快与您联系",
        "en": "Your help request {ref} is still being handled; the branch will be in touch",
    },
    # Surveys by SMS (models.survey_sms): `question` is the question as composed there, its
    # number, its options and how to answer, checked to fit one segment when it is written.
    "survey_question": {"zh_CN": "问卷{question}", "en": "Survey {question}"},
    "survey_reminder": {"zh_CN": "问卷提醒{question}", "en": "Survey reminder {question}"},
    "survey_answered": {
        "zh_CN": "已记录,谢谢!下一题稍后发给您。",
        "en": "Recorded, thank you! The next question follows soon.",
    },
    "survey_skipped": {
        "zh_CN": "这题先跳过,谢谢!下一题稍后发给您。",
        "en": "We skip this question, thank you. The next one follows soon.",
    },
    "survey_finished": {
        "zh_CN": "问卷已答完,谢谢您的配合!",
        "en": "The survey is complete. Thank you!",
    },
    # Sent once, before a member's first text (models.outbox.send_notice_first). Changing the
    # wording means raising models.notice.NOTICE_VERSION.
    "privacy_notice": {
        "zh_CN": "告知:本平台保存您的电话、务工城市和单位、汇报、短信及录音,仅用于党组织联系和服务,到期删除,详情可问村支部",
        "en": "Notice: we keep your phone, city, employer, reports, texts and recordings only "
        "for your branch to keep in touch and help; deleted in time. Ask your branch",
    },
    "broadcast": {"zh_CN": "{text}", "en": "{text}"},
    # Notices with fields (models.broadcast.NOTICE_FORMS): a template provider sends only
    # approved texts, so under one the composer offers these beside the free-text notice.
    "notice_meeting": {
        "zh_CN": "村支部通知:定于{date}在{place}召开{topic},请准时参加。",
        "en": "Branch notice: {topic} at {place}, {date}. Please attend.",
    },
    "notice_deadline": {
        "zh_CN": "村支部提醒:请于{date}前{task}。",
        "en": "Branch reminder: please {task} by {date}.",
    },
    "notice_training": {
        "zh_CN": "春节集中学习:{date}在{place}举行,回村的同志请参加。",
        "en": "Spring Festival training: {date} at {place}. Members back home, please attend.",
    },
}

_FORMATTER = string.Formatter()


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(key: str, language: str | None = None, **params: Any) -> str:
    """The template's text in the member's language (zh_CN if none), filled with params."""
    texts = TEMPLATES[key]
    text = texts.get(language or DEFAULT_LANGUAGE) or texts[DEFAULT_LANGUAGE]
    return text.format_map(_Blank(params))


def placeholders(key: str) -> set[str]:
    """The parameter names a template uses."""
    names: set[str] = set()
    for text in TEMPLATES[key].values():
        names.update(f for _, f, _, _ in _FORMATTER.parse(text) if f)
    return names


def languages(mapping: Mapping[str, str]) -> list[str]:
    """The languages a template is written in."""
    return list(mapping)
