/* tm_log: implementation pending */
