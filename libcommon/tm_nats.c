/* tm_nats: implementation pending */
