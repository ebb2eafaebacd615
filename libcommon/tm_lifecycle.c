/* tm_lifecycle: implementation pending */
