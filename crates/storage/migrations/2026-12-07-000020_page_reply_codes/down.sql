DROP TABLE page_reply_codes;
