/* tm_error: implementation pending */
