/* tm_json: implementation pending */
