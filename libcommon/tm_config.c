/* tm_config: implementation pending */
