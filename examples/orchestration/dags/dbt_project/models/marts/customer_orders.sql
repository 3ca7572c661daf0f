select
    customer_id,
    count(*) as order_count,
    sum(amount) as total_amount,
    '{{ var("ENV_SHORT_NAME") }}' as built_in
from {{ ref('stg_orders') }}
group by customer_id
