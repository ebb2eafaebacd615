/* tm_query: implementation pending */
