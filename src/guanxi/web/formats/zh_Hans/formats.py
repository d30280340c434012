# Django's zh_Hans formats group digits by four with no separator (12345678.00); Chinese
# invoices, banks and spreadsheets write amounts with a comma every three digits
# (12,345,678.00), so money reads the way our users see it elsewhere. Dates stay Django's.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
