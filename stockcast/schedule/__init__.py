"""The cron job: config, runner, its real steps, the forecast log, scores, the log file."""
