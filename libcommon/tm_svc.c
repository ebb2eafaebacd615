/* tm_svc: implementation pending */
