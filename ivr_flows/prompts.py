"""Every prompt a caller hears, by key and language (zh_CN first, English second).

A prompt without {parameters} may be replaced by a recording the branch or township
uploaded (Organization.settings["prompts"][key] = URL); prompts with parameters are
always spoken, since a recording cannot say a member's name.
"""

from __future__ import annotations

import string

DEFAULT_LANGUAGE = "zh_CN"
# What fills a prompt's {parameter}: a name, a place, a spelt-out receipt, a lesson number.
PromptValue = str | int

PROMPTS: dict[str, dict[str, str]] = {
    # Main menu
    "greeting": {
        "zh_CN": "{name}您好，欢迎拨打流动党员服务热线。",
        "en": "Hello {name}, welcome to the members' hotline.",
    },
    "main_menu": {
        "zh_CN": "月度汇报请按1，收听学习课程请按2，更新城市或工作单位请按3，求助请按4，记录为家乡做的事请按5，收听致富信息请按6，给支部留言请按0，重听请按星号键。",
        "en": "For the monthly report press 1, lessons press 2, a new city or employer press 3, help press 4, to record what you did for home press 5, tips for getting richer press 6, a message for your branch press 0, to hear this again press star.",
    },
    # Why a question is asked again, and the goodbye after the last try
    "no_input": {"zh_CN": "没有听到您按键。", "en": "We did not hear a key."},
    "wrong_key": {"zh_CN": "您按的键不对。", "en": "That key is not one of the choices."},
    "no_recording": {"zh_CN": "没有录到您的声音。", "en": "We did not hear you."},
    "lesson_unknown": {
        "zh_CN": "没有这个编号的课程。",
        "en": "There is no lesson with that number.",
    },
    "goodbye_retry": {
        "zh_CN": "没有收到您的选择。您可以随时再拨打本热线；拨通后直接挂断，我们会免费给您回电。再见。",
        "en": "We did not get your choice. Call this hotline again any time, or ring and hang up and we will call you back for free. Goodbye.",
    },
    "goodbye": {"zh_CN": "谢谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    "sorry": {
        "zh_CN": "对不起，刚才出了点问题，我们从主菜单重新开始。",
        "en": "Sorry, something went wrong. Let us start again from the main menu.",
    },
    "call_ended": {"zh_CN": "通话已结束，再见。", "en": "This call has ended. Goodbye."},
    # Monthly report
    "report_again": {
        "zh_CN": "您本月已经汇报过了，回执是 {receipt}。重新汇报请按1，返回主菜单请按星号键。",
        "en": "You have already reported this month, receipt {receipt}. To report again press 1, for the main menu press star.",
    },
    "ask_studied": {
        "zh_CN": "本月您参加学习了吗？学了请按1，没学请按2。",
        "en": "Did you study this month? Press 1 for yes, 2 for no.",
    },
    "ask_same_city": {
        "zh_CN": "您现在还在{city}吗？是请按1，不是请按2。",
        "en": "Are you still in {city}? Press 1 for yes, 2 for no.",
    },
    "ask_same_city_unknown": {
        "zh_CN": "您还在原来的城市吗？是请按1，不是请按2。",
        "en": "Are you still in the same city? Press 1 for yes, 2 for no.",
    },
    "record_city": {
        "zh_CN": "请在提示音后说出您现在所在的城市，说完请按井号键。",
        "en": "After the tone, say the city you are in now, then press hash.",
    },
    "ask_same_employer": {
        "zh_CN": "您还在{employer}工作吗？是请按1，不是请按2。",
        "en": "Do you still work at {employer}? Press 1 for yes, 2 for no.",
    },
    "ask_same_employer_unknown": {
        "zh_CN": "您还在原来的单位工作吗？是请按1，不是请按2。",
        "en": "Do you still work for the same employer? Press 1 for yes, 2 for no.",
    },
    "record_employer": {
        "zh_CN": "请在提示音后说出您现在的工作单位，说完请按井号键。",
        "en": "After the tone, say your employer now, then press hash.",
    },
    "ask_thought_report": {
        "zh_CN": "如需录一段思想汇报，请按1；不录请按2。",
        "en": "To record a thought report press 1, otherwise press 2.",
    },
    "record_thought_report": {
        "zh_CN": "请在提示音后开始思想汇报，最长两分钟，说完请按井号键。",
        "en": "After the tone, give your thought report, up to two minutes, then press hash.",
    },
    "report_done": {
        "zh_CN": "您的月度汇报已收到，回执是 {receipt}。谢谢，再见。",
        "en": "Your monthly report is received, receipt {receipt}. Thank you, goodbye.",
    },
    "report_done_plain": {
        "zh_CN": "您的月度汇报已收到。谢谢，再见。",
        "en": "Your monthly report is received. Thank you, goodbye.",
    },
    # Lessons
    "lesson_categories": {
        "zh_CN": "请选择课程类别：政策法规请按1，实用技术请按2，典型经验请按3，市场信息请按4，科普文卫请按5；直接输入课程编号请按9；返回主菜单请按星号键。",
        "en": "Choose a category: policy and law 1, practical skills 2, good examples 3, market news 4, science and health 5; to dial a lesson number press 9; for the main menu press star.",
    },
    "lessons_none": {
        "zh_CN": "这个类别暂时没有课程。",
        "en": "There are no lessons in this category yet.",
    },
    "lesson_item": {
        "zh_CN": "按{position}，第{number}课：{title}。",
        "en": "Press {position} for lesson {number}, {title}.",
    },
    "lesson_pick": {
        "zh_CN": "请按序号选择课程，返回请按星号键。",
        "en": "Press the number of a lesson, or star to go back.",
    },
    "lesson_number": {
        "zh_CN": "请输入课程编号，以井号键结束。",
        "en": "Enter the lesson number, then press hash.",
    },
    "lesson_intro": {
        "zh_CN": "现在播放第{number}课：{title}。",
        "en": "Now playing lesson {number}: {title}.",
    },
    "lesson_after": {
        "zh_CN": "听完请按1，跳过请按井号键。",
        "en": "When you have finished, press 1. To skip, press hash.",
    },
    "lesson_resume": {
        "zh_CN": "您上次收听的《{title}》还没有听完。从中断的地方继续收听请按1，进入主菜单请按其他键。",
        "en": "You stopped part way through {title}. To continue where you stopped, press 1. "
        "For the menu, press any other key.",
    },
    "lesson_continue": {
        "zh_CN": "接着播放第{number}课：{title}。",
        "en": "Continuing lesson {number}: {title}.",
    },
    "lesson_credited": {
        "zh_CN": "已记录您的学习，谢谢。",
        "en": "Your lesson is recorded. Thank you.",
    },
    "lesson_goodbye": {
        "zh_CN": "已记录您的学习，谢谢收听，再见。",
        "en": "Your lesson is recorded. Thank you for listening, goodbye.",
    },
    # Status update
    "status_menu": {
        "zh_CN": "城市和工作单位都没有变化请按1，换了城市请按2，换了工作单位请按3，返回主菜单请按星号键。",
        "en": "If nothing changed press 1, a new city press 2, a new employer press 3, for the main menu press star.",
    },
    "status_confirmed": {
        "zh_CN": "谢谢确认，支部已知道您的情况没有变化。再见。",
        "en": "Thank you for confirming that nothing changed. Goodbye.",
    },
    "ask_employer_too": {
        "zh_CN": "工作单位也变了请按1，没有变请按2。",
        "en": "If your employer changed too press 1, otherwise press 2.",
    },
    "status_done": {
        "zh_CN": "已记录，支部核实后会为您更新。谢谢，再见。",
        "en": "Recorded. Your branch will check and update it. Thank you, goodbye.",
    },
    # Help
    "help_categories": {
        "zh_CN": "请选择求助类别：工资拖欠请按1，住房请按2，子女入学请按3，就业请按4，劳动纠纷请按5，证件办理请按6，其他请按7；返回主菜单请按星号键。",
        "en": "Choose: unpaid wages 1, housing 2, school for children 3, jobs 4, a labour dispute 5, documents 6, other 7; for the main menu press star.",
    },
    "record_help": {
        "zh_CN": "请在提示音后说明您的情况，最长两分钟，说完请按井号键。",
        "en": "After the tone, tell us what happened, up to two minutes, then press hash.",
    },
    "help_done": {
        "zh_CN": "您的求助已收到，支部会尽快与您联系。再见。",
        "en": "Your request for help is received. Your branch will contact you soon. Goodbye.",
    },
    "help_done_ref": {
        "zh_CN": "您的求助已收到，编号{ref}，编号也已用短信发给您。支部会尽快与您联系。再见。",
        "en": "Your request for help is received, reference {ref}; we have texted it to you too. Your branch will contact you soon. Goodbye.",
    },
    # Deeds for home (五个一)
    "deed_items": {
        "zh_CN": "请选择您为家乡做的事：捎回致富信息请按1，做通思想工作请按2，培养入党积极分子请按3，帮人外出务工请按4，为村里或困难户办好事请按5；返回主菜单请按星号键。",
        "en": "What did you do for home? A tip for getting richer 1, talked someone round 2, brought someone towards membership 3, helped someone find work 4, a good deed for the village 5; for the main menu press star.",
    },
    "tip_topics": {
        "zh_CN": "请选择致富信息的类别：种植养殖请按1，务工就业请按2，创业经营请按3，市场行情请按4，其他请按5；返回主菜单请按星号键。",
        "en": "Choose the topic: farming 1, jobs 2, starting a business 3, market prices 4, other 5; for the main menu press star.",
    },
    "record_deed": {
        "zh_CN": "请在提示音后说明您做了什么，最长两分钟，说完请按井号键。",
        "en": "After the tone, say what you did, up to two minutes, then press hash.",
    },
    "deed_too_short": {
        "zh_CN": "录音太短，支部无法确认。",
        "en": "That recording is too short for the branch to confirm.",
    },
    "deed_done": {
        "zh_CN": "已记录，支部确认后会计入您的贡献。谢谢您为家乡出力，再见。",
        "en": "Recorded. Once your branch confirms it, it counts for you. Thank you, goodbye.",
    },
    # The tips board (致富信息)
    "tips_none": {
        "zh_CN": "这个类别暂时没有致富信息。",
        "en": "There are no tips on this topic yet.",
    },
    "tip_intro": {
        "zh_CN": "第{position}条，共{count}条。",
        "en": "Tip {position} of {count}.",
    },
    "tip_after": {
        "zh_CN": "下一条请按井号键，跳到第几条请按数字，用短信发给您请按0，返回类别请按星号键。",
        "en": "For the next tip press hash, to jump to a tip press its number, to get this one by text press 0, for the topics press star.",
    },
    "tip_texted": {
        "zh_CN": "已用短信发给您。",
        "en": "We have texted it to you.",
    },
    "tips_end": {
        "zh_CN": "这个类别的致富信息已经听完了。",
        "en": "That was the last tip on this topic.",
    },
    # Message for the branch
    "record_message": {
        "zh_CN": "请在提示音后给支部留言，最长两分钟，说完请按井号键。",
        "en": "After the tone, leave your message for the branch, up to two minutes, then press hash.",
    },
    "message_done": {
        "zh_CN": "您的留言已转给支部，谢谢，再见。",
        "en": "Your message is passed to your branch. Thank you, goodbye.",
    },
    # Unknown caller
    "unknown_intro": {
        "zh_CN": "您好，这里是流动党员服务热线。您的号码还没有登记。请在提示音后说出您的姓名和所在的村，支部会与您联系。",
        "en": "Hello, this is the members' hotline. Your number is not registered. After the tone, say your name and your village, and the branch will contact you.",
    },
    "unknown_done": {
        "zh_CN": "谢谢，支部会尽快与您联系。再见。",
        "en": "Thank you, the branch will contact you soon. Goodbye.",
    },
    # A call in place of a notice whose text did not reach the member: said twice, then goodbye.
    "notice_greeting": {
        "zh_CN": "{name}您好，这里是村党支部。给您发的通知短信没有送达，现在为您读一遍：",
        "en": "Hello {name}, this is your village branch. A notice we texted you did not arrive; "
        "here it is:",
    },
    "notice_again": {"zh_CN": "再读一遍：", "en": "Once more:"},
    "notice_goodbye": {
        "zh_CN": "通知读完了。有问题请回复短信或拨打热线。再见。",
        "en": "That was the notice. Text us or call the hotline with any question. Goodbye.",
    },
    # Surveys (三项调查): offered first on the hotline, or a call we place to ask one
    "survey_offer": {
        "zh_CN": "支部有一份问卷《{title}》请您回答。现在回答请按1，进入主菜单请按其他键。",
        "en": "Your branch asks you to answer the survey {title}. To answer it now press 1; "
        "for the menu press any other key.",
    },
    "survey_greeting": {
        "zh_CN": "{name}您好，这里是村党支部。请您回答问卷《{title}》，一共{count}个问题。",
        "en": "Hello {name}, this is your village branch. Please answer the survey {title}: "
        "{count} questions.",
    },
    "survey_resume": {
        "zh_CN": "接着上次，从第{number}题开始。",
        "en": "Carrying on from question {number}.",
    },
    "survey_question": {"zh_CN": "第{number}题：", "en": "Question {number}:"},
    "survey_option": {"zh_CN": "{label}请按{digit}；", "en": "{label}, press {digit}."},
    "survey_number": {
        "zh_CN": "请用按键输入数字，以井号键结束。",
        "en": "Enter the number on the keypad, then press hash.",
    },
    "survey_record": {
        "zh_CN": "请在提示音后说出您的回答，说完请按井号键。",
        "en": "After the tone, say your answer, then press hash.",
    },
    "survey_next": {
        "zh_CN": "这道题先跳过。",
        "en": "Let us leave that question for now.",
    },
    "survey_done": {
        "zh_CN": "问卷已经答完，您的回答已记录。谢谢您，再见。",
        "en": "That is the whole survey; your answers are recorded. Thank you, goodbye.",
    },
    # Outbound lesson call
    "outbound_greeting": {
        "zh_CN": "{name}您好，这里是村党支部的流动党员学习热线。",
        "en": "Hello {name}, this is your village branch's lesson line.",
    },
}


def text(key: str, language: str | None = None, **params: PromptValue) -> str:
    """The prompt `key` in a language (Chinese when the language has no text), filled in."""
    table = PROMPTS[key]
    template = table.get(language or DEFAULT_LANGUAGE) or table[DEFAULT_LANGUAGE]
    return template.format(**params)


def parameters(key: str) -> set[str]:
    """The {names} a prompt needs."""
    names: set[str] = set()
    for template in PROMPTS[key].values():
        names.update(name for _, name, _, _ in string.Formatter().parse(template) if name)
    return names


__all__ = ["DEFAULT_LANGUAGE", "PROMPTS", "PromptValue", "parameters", "text"]
