/* tm_util: implementation pending */
