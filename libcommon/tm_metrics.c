/* tm_metrics: implementation pending */
