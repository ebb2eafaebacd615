/* tm_problem: implementation pending */
