DROP TABLE slack_users;
