/* tm_pg: implementation pending */
