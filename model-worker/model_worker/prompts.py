"""Prompts: the Omni system prompts and default instructions, and the detector adapter's training prompts."""

# Qwen2.5-Omni only produces speech with exactly this system prompt (model card); the worker enforces it.
OMNI_SPEECH_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory and "
    "visual inputs, as well as generating text and speech."
)
OMNI_TEXT_SYSTEM_PROMPT = "You are a helpful assistant."

OMNI_FEEDBACK_INSTRUCTION = (
    "Listen to this recording and give the speaker feedback on both what they said (content: clarity of ideas, "
    "structure, word choice) and how they said it (delivery: pronunciation, pace, clarity). Be specific and "
    "encouraging, and suggest concrete improvements. Answer in the language spoken in the recording."
)
# Qwen2.5-Omni's speech-recognition setup (its cookbook): this system prompt, the audio, then the instruction.
OMNI_ASR_SYSTEM_PROMPT = "You are a speech recognition model."
OMNI_TRANSCRIPT_INSTRUCTION = "Transcribe the audio into text, in the language spoken."

# takumi123xxx/pdfme-form-field-detector-lora was trained with these prompts (JapanMarketing-Dev/pdfme-fineturning,
# src/finetune.py): find the fields an applicant fills in, not the staff-only ones; answer
# {"applicant_fields": [{"bbox": [x1, y1, x2, y2]}], "count": n} with coordinates normalised to 0-1000.
DETECTOR_SYSTEM_PROMPT = """あなたは日本の書類（申請書、届出書など）を分析するエキスパートです。
書類には2種類の入力欄があります：
1. 担当者（申請者・顧客）が記入する欄 → 検出対象
2. 職員（役所・会社の担当者）が記入する欄 → 対象外

担当者が記入する欄の例：氏名、住所、電話番号、生年月日、メールアドレス、署名欄など
職員が記入する欄の例：受付番号、処理日、担当印、審査欄、決裁欄など"""

DETECTOR_USER_PROMPT = """この画像から、担当者（申請者・顧客）が記入する入力フィールドの位置をすべて検出してください。
職員が記入する欄は除外してください。
結果はJSON形式で、各フィールドのbbox座標（0-1000正規化）を返してください。"""
